//! The hyper-parameters of a llama2.c transformer.
//!
//! A checkpoint header holds signed 32-bit values ([`RawModelConfig`]); [`ModelConfig`] is the
//! validated form everything else uses, with the derived sizes computed in one place. Validation
//! bounds every size, so that nothing is allocated from an absurd header.

use thiserror::Error;

/// The seven header values of a llama2.c checkpoint, as stored (llama2.c's `Config`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawModelConfig {
    /// Transformer width.
    pub dim: i32,
    /// Width of the feed-forward hidden layer.
    pub hidden_dim: i32,
    /// Number of layers.
    pub n_layers: i32,
    /// Number of query heads.
    pub n_heads: i32,
    /// Number of key/value heads (grouped-query attention when fewer than `n_heads`).
    pub n_kv_heads: i32,
    /// Vocabulary size (the legacy format stores it negated when the classifier is not shared).
    pub vocab_size: i32,
    /// Longest sequence.
    pub seq_len: i32,
}

/// Validated model hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ModelConfig {
    /// Transformer width.
    pub dim: usize,
    /// Width of the feed-forward hidden layer.
    pub hidden_dim: usize,
    /// Number of layers.
    pub n_layers: usize,
    /// Number of query heads.
    pub n_heads: usize,
    /// Number of key/value heads.
    pub n_kv_heads: usize,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Longest sequence (positions `0 .. seq_len`).
    pub seq_len: usize,
    /// Whether the classifier is the token embedding table.
    pub shared_classifier: bool,
}

/// Largest accepted value of each size: far above any model Monorail can place on a chip, far
/// below what would make a forged header allocate absurd amounts.
pub const MAX_DIM: usize = 1 << 16;
/// Largest accepted `hidden_dim`. Also the bound that keeps the int32 accumulators of the matrix
/// unit exact: `127 * 127 * 2^17 < 2^31` (see `docs/numerics.md`).
pub const MAX_HIDDEN_DIM: usize = 1 << 17;
/// Largest accepted `n_layers`.
pub const MAX_LAYERS: usize = 1 << 10;
/// Largest accepted `vocab_size`.
pub const MAX_VOCAB: usize = 1 << 20;
/// Largest accepted `seq_len` (attention sums over positions in int32, as the matrix unit does).
pub const MAX_SEQ_LEN: usize = 1 << 17;
/// Largest accepted key/value cache, in bytes of float32 keys and values (Llama 2 7B's at 4096
/// positions takes 4 GiB): each field within its limit, their product could still ask for more
/// memory than any machine here has before a single token runs.
pub const MAX_KV_CACHE_BYTES: usize = 4 << 30;

/// What is wrong with a model header. Each variant names the field.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ModelConfigError {
    /// A field is zero or negative.
    #[error("`{field}` is {value}; it must be positive")]
    NotPositive {
        /// Header field name.
        field: &'static str,
        /// The value found.
        value: i64,
    },
    /// A field exceeds its bound.
    #[error("`{field}` is {value}, above the limit of {max}")]
    TooLarge {
        /// Header field name.
        field: &'static str,
        /// The value found.
        value: i64,
        /// The largest accepted value.
        max: usize,
    },
    /// A divisibility or evenness rule between fields is broken.
    #[error("{0}")]
    Inconsistent(String),
}

impl RawModelConfig {
    /// Validate the header values. `shared_classifier` comes from the format: the legacy format
    /// encodes it in the sign of `vocab_size`, which the caller resolves before calling this.
    pub fn validate(&self, shared_classifier: bool) -> Result<ModelConfig, ModelConfigError> {
        let field = |name: &'static str, value: i32, max: usize| {
            if value <= 0 {
                Err(ModelConfigError::NotPositive {
                    field: name,
                    value: value as i64,
                })
            } else if value as usize > max {
                Err(ModelConfigError::TooLarge {
                    field: name,
                    value: value as i64,
                    max,
                })
            } else {
                Ok(value as usize)
            }
        };
        let config = ModelConfig {
            dim: field("dim", self.dim, MAX_DIM)?,
            hidden_dim: field("hidden_dim", self.hidden_dim, MAX_HIDDEN_DIM)?,
            n_layers: field("n_layers", self.n_layers, MAX_LAYERS)?,
            n_heads: field("n_heads", self.n_heads, MAX_DIM)?,
            n_kv_heads: field("n_kv_heads", self.n_kv_heads, MAX_DIM)?,
            vocab_size: field("vocab_size", self.vocab_size, MAX_VOCAB)?,
            seq_len: field("seq_len", self.seq_len, MAX_SEQ_LEN)?,
            shared_classifier,
        };
        config.check()?;
        Ok(config)
    }
}

impl ModelConfig {
    /// Check each field against its bounds, then the rules between them, as a checkpoint's
    /// header is checked: for a config read from elsewhere (a bundle's manifest), which
    /// [`ModelConfig::check`] alone, assuming the bounds, would divide by a zero field of.
    pub fn validate(&self) -> Result<(), ModelConfigError> {
        let raw = |value: usize| i32::try_from(value).unwrap_or(i32::MAX);
        RawModelConfig {
            dim: raw(self.dim),
            hidden_dim: raw(self.hidden_dim),
            n_layers: raw(self.n_layers),
            n_heads: raw(self.n_heads),
            n_kv_heads: raw(self.n_kv_heads),
            vocab_size: raw(self.vocab_size),
            seq_len: raw(self.seq_len),
        }
        .validate(self.shared_classifier)
        .map(|_| ())
    }

    /// Check the rules between fields (also used for configs built in code).
    pub fn check(&self) -> Result<(), ModelConfigError> {
        let fail = |msg: String| Err(ModelConfigError::Inconsistent(msg));
        if self.dim % self.n_heads != 0 {
            return fail(format!(
                "`n_heads` ({}) does not divide `dim` ({})",
                self.n_heads, self.dim
            ));
        }
        if self.n_kv_heads > self.n_heads || self.n_heads % self.n_kv_heads != 0 {
            return fail(format!(
                "`n_kv_heads` ({}) must divide `n_heads` ({})",
                self.n_kv_heads, self.n_heads
            ));
        }
        if self.head_size() % 2 != 0 {
            return fail(format!(
                "the head size `dim / n_heads` ({}) must be even for RoPE's pairs",
                self.head_size()
            ));
        }
        if self.kv_cache_bytes() > MAX_KV_CACHE_BYTES {
            return fail(format!(
                "the key/value cache of `seq_len` ({}) x `n_layers` ({}) x kv_dim ({}) would \
                 take {:.1} GiB as float32; at most {} GiB are accepted (a shorter `seq_len` \
                 serves)",
                self.seq_len,
                self.n_layers,
                self.kv_dim(),
                self.kv_cache_bytes() as f64 / (1u64 << 30) as f64,
                MAX_KV_CACHE_BYTES >> 30
            ));
        }
        Ok(())
    }

    /// Width of one attention head.
    pub fn head_size(&self) -> usize {
        self.dim / self.n_heads
    }

    /// Width of the key and value vectors (`dim * n_kv_heads / n_heads`).
    pub fn kv_dim(&self) -> usize {
        self.head_size() * self.n_kv_heads
    }

    /// Bytes of the key/value cache as float32 keys and values: (2, layer, seq_len, kv_dim).
    pub fn kv_cache_bytes(&self) -> usize {
        2 * self.n_layers * self.seq_len * self.kv_dim() * std::mem::size_of::<f32>()
    }

    /// Query heads per key/value head.
    pub fn kv_mul(&self) -> usize {
        self.n_heads / self.n_kv_heads
    }

    /// Number of weights of the matrices and vectors of one layer, in llama2.c's order.
    pub fn layer_params(&self) -> usize {
        let (d, h, kv) = (self.dim, self.hidden_dim, self.kv_dim());
        2 * d + d * d + 2 * kv * d + d * d + 3 * h * d
    }

    /// Number of weights of the whole model (embedding, layers, final norm, classifier if unshared).
    pub fn param_count(&self) -> usize {
        let embedding = self.vocab_size * self.dim;
        let classifier = if self.shared_classifier { 0 } else { embedding };
        embedding + self.n_layers * self.layer_params() + self.dim + classifier
    }

    /// Multiply-accumulates of one token step at position `pos` (matrix-vector products plus the
    /// attention dot products and weighted sums).
    pub fn macs_per_token(&self, pos: usize) -> usize {
        let (d, h, kv) = (self.dim, self.hidden_dim, self.kv_dim());
        let matvec = d * d + 2 * kv * d + d * d + 3 * h * d;
        let attention = 2 * self.n_heads * self.head_size() * (pos + 1);
        self.n_layers * (matvec + attention) + self.vocab_size * d
    }
}
