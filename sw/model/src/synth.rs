//! Seeded random models in real llama2.c format, and the built-in tokenizer that goes with them.
//!
//! The generator uses only integer arithmetic and IEEE-754 basic operations (a splitmix64 stream,
//! Irwin-Hall sums of uniforms for bell-shaped values), so a seed gives the same bytes on every
//! machine.

use monorail_contract::model_config::{ModelConfig, RawModelConfig};

use crate::checkpoint::{Checkpoint, CheckpointFormat, FloatWeights};
use crate::error::ModelError;
use crate::tokenizer::{base_pieces, pad_unused, Tokenizer, BYTE_TOKEN_OFFSET};

/// The named shapes of `monorail synth-model --shape`.
pub const SHAPES: [(&str, RawModelConfig); 3] = [
    (
        "nano",
        RawModelConfig {
            dim: 32,
            hidden_dim: 96,
            n_layers: 2,
            n_heads: 4,
            n_kv_heads: 2,
            vocab_size: 512,
            seq_len: 64,
        },
    ),
    (
        "stories260k",
        RawModelConfig {
            dim: 64,
            hidden_dim: 172,
            n_layers: 5,
            n_heads: 8,
            n_kv_heads: 4,
            vocab_size: 512,
            seq_len: 512,
        },
    ),
    (
        "stories15m",
        RawModelConfig {
            dim: 288,
            hidden_dim: 768,
            n_layers: 6,
            n_heads: 6,
            n_kv_heads: 6,
            vocab_size: 32000,
            seq_len: 256,
        },
    ),
];

/// Parse a shape: a name from [`SHAPES`], or `key=value` pairs separated by commas with the keys
/// `dim, hidden, layers, heads, kv_heads, vocab, seq` (all required) and optionally
/// `shared=true|false` (default true).
pub fn parse_shape(text: &str) -> Result<ModelConfig, ModelError> {
    if let Some((_, raw)) = SHAPES.iter().find(|(name, _)| *name == text) {
        return raw
            .validate(true)
            .map_err(|e| ModelError::Invalid(format!("shape `{text}`: {e}")))
            .and_then(|c| check_size(text, c));
    }
    let keys = [
        "dim", "hidden", "layers", "heads", "kv_heads", "vocab", "seq",
    ];
    let mut values = [None; 7];
    let mut shared = true;
    for item in text.split(',') {
        let (key, value) = item.split_once('=').ok_or_else(|| {
            ModelError::Invalid(format!(
                "shape `{text}`: expected a name ({}) or key=value pairs ({}, shared)",
                SHAPES.map(|(n, _)| n).join(", "),
                keys.join(", ")
            ))
        })?;
        let (key, value) = (key.trim(), value.trim());
        if key == "shared" {
            shared = value.parse().map_err(|_| {
                ModelError::Invalid(format!("shape `{text}`: shared must be true or false"))
            })?;
            continue;
        }
        let slot = keys.iter().position(|k| *k == key).ok_or_else(|| {
            ModelError::Invalid(format!(
                "shape `{text}`: unknown key `{key}` (keys: {}, shared)",
                keys.join(", ")
            ))
        })?;
        if values[slot].is_some() {
            return Err(ModelError::Invalid(format!(
                "shape `{text}`: `{key}` is given twice"
            )));
        }
        values[slot] = Some(value.parse::<i32>().map_err(|_| {
            ModelError::Invalid(format!("shape `{text}`: `{key}` must be an integer"))
        })?);
    }
    if let Some(missing) = keys.iter().zip(&values).find(|(_, v)| v.is_none()) {
        return Err(ModelError::Invalid(format!(
            "shape `{text}`: `{}` is missing",
            missing.0
        )));
    }
    let v = values.map(|v| v.expect("checked above"));
    RawModelConfig {
        dim: v[0],
        hidden_dim: v[1],
        n_layers: v[2],
        n_heads: v[3],
        n_kv_heads: v[4],
        vocab_size: v[5],
        seq_len: v[6],
    }
    .validate(shared)
    .map_err(|e| ModelError::Invalid(format!("shape `{text}`: {e}")))
    .and_then(|c| check_size(text, c))
}

fn check_size(text: &str, config: ModelConfig) -> Result<ModelConfig, ModelError> {
    let params = config.param_count();
    if params > MAX_SYNTH_PARAMS {
        return Err(ModelError::Invalid(format!(
            "shape `{text}` has {params} parameters, above the {MAX_SYNTH_PARAMS} a synthetic model may have"
        )));
    }
    Ok(config)
}

/// splitmix64: a small, well-mixed, seedable stream.
pub(crate) struct SplitMix64(pub(crate) u64);

impl SplitMix64 {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Bell-shaped with mean 0 and standard deviation 1 (sum of four uniforms).
    fn bell(&mut self) -> f64 {
        let sum: f64 = (0..4).map(|_| self.uniform()).sum();
        (sum - 2.0) * 3f64.sqrt()
    }

    fn tensor(&mut self, n: usize, mean: f64, std: f64) -> Vec<f32> {
        (0..n).map(|_| (mean + std * self.bell()) as f32).collect()
    }
}

/// Largest synthetic model, in parameters (4 GiB of float32): the generator builds it in memory.
pub const MAX_SYNTH_PARAMS: usize = 1 << 30;

/// A seeded random model: embedding values of standard deviation 0.3, matrices scaled by
/// `1 / sqrt(fan_in)` (so activations keep their size through the layers), norm weights around 1.
pub fn synthesize(config: ModelConfig, seed: u64) -> Checkpoint {
    let c = config;
    let mut rng = SplitMix64(seed ^ 0x4D6F_6E6F_7261_696C); // "Monorail"
    let (d, h, kv, l) = (c.dim, c.hidden_dim, c.kv_dim(), c.n_layers);
    let inv_sqrt = |n: usize| 1.0 / (n as f64).sqrt();
    let token_embedding = rng.tensor(c.vocab_size * d, 0.0, 0.3);
    let rms_att = rng.tensor(l * d, 1.0, 0.1);
    let wq = rng.tensor(l * d * d, 0.0, inv_sqrt(d));
    let wk = rng.tensor(l * kv * d, 0.0, inv_sqrt(d));
    let wv = rng.tensor(l * kv * d, 0.0, inv_sqrt(d));
    let wo = rng.tensor(l * d * d, 0.0, inv_sqrt(d));
    let rms_ffn = rng.tensor(l * d, 1.0, 0.1);
    let w1 = rng.tensor(l * h * d, 0.0, inv_sqrt(d));
    let w2 = rng.tensor(l * d * h, 0.0, inv_sqrt(h));
    let w3 = rng.tensor(l * h * d, 0.0, inv_sqrt(d));
    let rms_final = rng.tensor(d, 1.0, 0.1);
    let classifier = (!c.shared_classifier).then(|| rng.tensor(c.vocab_size * d, 0.0, inv_sqrt(d)));
    Checkpoint {
        config: c,
        weights: FloatWeights {
            token_embedding,
            rms_att,
            wq,
            wk,
            wv,
            wo,
            rms_ffn,
            w1,
            w2,
            w3,
            rms_final,
            classifier,
        },
        format: CheckpointFormat::LegacyV0,
    }
}

/// Words of the built-in tokenizer, after its byte and character tokens.
const BUILTIN_WORDS: &str = "the and a to was he she it of in they his her with on for that said \
you is day one so had big little very happy play saw time upon once there were went wanted mom \
dad dog cat friend tree ball park sun fun help look good not but then all be at up out can do go \
like see could what have from we my me are named girl boy toy home house water sky bird fish red \
blue green run jump eat sad nice new want love found made came back down too every care smile \
thank together bear car box book food hat cake sweet hug sleep night Lily Tim Ben Max Sue Tom Anna \
who how when where why this some would them their him no yes ran get got away sat walk talked \
asked laughed played looked felt make fly sing swim small tall old kind brave scared tired best \
more many other into over under after before again around just now first last mouse duck frog \
bunny flower garden school friends learned shared";

/// Suffixes of the built-in tokenizer (merged after a word piece, so without a leading space).
const BUILTIN_SUFFIXES: [&str; 8] = ["ing", "ed", "er", "ly", "'s", "s", "es", "y"];

/// The built-in tokenizer for synthetic models of `vocab_size` tokens (at least 259): llama2.c's
/// three special tokens, the 256 byte tokens, the printable ASCII characters, then space-prefixed
/// common words and suffixes (longer pieces score higher, so they win the merges), padded with
/// `<unused_N>` tokens.
pub fn builtin_tokenizer(vocab_size: usize) -> Result<Tokenizer, ModelError> {
    let minimum = BYTE_TOKEN_OFFSET as usize + 256;
    if vocab_size < minimum {
        return Err(ModelError::Invalid(format!(
            "the built-in tokenizer needs a vocabulary of at least {minimum} tokens (3 special \
             tokens and 256 bytes); this model has {vocab_size}"
        )));
    }
    let mut pieces = base_pieces();
    let mut extra: Vec<String> = (b' '..=b'~').map(|b| (b as char).to_string()).collect();
    extra.extend(BUILTIN_WORDS.split_whitespace().map(|w| format!(" {w}")));
    extra.extend(BUILTIN_SUFFIXES.iter().map(|s| s.to_string()));
    // Intermediate pieces so that greedy pair merging can build every word: " w", " wo", ...
    let mut with_prefixes: Vec<String> = Vec::new();
    for piece in extra {
        for end in 2..piece.len() {
            let prefix = piece[..end].to_string();
            if !with_prefixes.contains(&prefix) {
                with_prefixes.push(prefix);
            }
        }
        if !with_prefixes.contains(&piece) {
            with_prefixes.push(piece);
        }
    }
    for piece in with_prefixes {
        if pieces.len() == vocab_size {
            break;
        }
        let score = piece.len() as f32 - pieces.len() as f32 / 1e4;
        pieces.push((piece.into_bytes(), score));
    }
    pad_unused(&mut pieces, vocab_size);
    Ok(Tokenizer::from_pieces(pieces))
}
