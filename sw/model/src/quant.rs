//! Quantisation of a float checkpoint into the integer model that the golden model, the compiler
//! and the hardware share (the scheme is specified in `docs/numerics.md`).

use monorail_contract::model_config::ModelConfig;
use monorail_contract::numerics::{
    fixed_mantissas, quantize_matrix, rope_phase_step, FixedScale, QuantMatrix, RmsEps,
};

use crate::checkpoint::Checkpoint;

/// RMSNorm weights with `sqrt(dim)` folded in (so the norm needs no division by `dim`), as 15-bit
/// mantissas sharing one exponent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NormWeights {
    /// Mantissas. // (dim,)
    pub mant: Vec<i32>,
    /// Shared exponent.
    pub exp: i32,
}

impl NormWeights {
    pub(crate) fn quantize(weights: &[f32]) -> NormWeights {
        let sqrt_dim = (weights.len() as f64).sqrt();
        let scaled: Vec<f64> = weights.iter().map(|&g| g as f64 * sqrt_dim).collect();
        let (mant, exp) = fixed_mantissas(&scaled);
        NormWeights { mant, exp }
    }
}

/// The quantised weights of one layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuantLayer {
    /// attn_norm weights.
    pub attn_norm: NormWeights,
    /// Query projection. // (dim, dim)
    pub wq: QuantMatrix,
    /// Key projection. // (kv_dim, dim)
    pub wk: QuantMatrix,
    /// Value projection. // (kv_dim, dim)
    pub wv: QuantMatrix,
    /// Output projection. // (dim, dim)
    pub wo: QuantMatrix,
    /// ffn_norm weights.
    pub ffn_norm: NormWeights,
    /// SwiGLU gate. // (hidden_dim, dim)
    pub w1: QuantMatrix,
    /// SwiGLU down. // (dim, hidden_dim)
    pub w2: QuantMatrix,
    /// SwiGLU up. // (hidden_dim, dim)
    pub w3: QuantMatrix,
}

/// Row scales kept with fewer significant bits than this are coarse ([`QuantModel::scale_losses`]):
/// a scale of 3 bits (a mantissa of 4 to 7, rounded by up to half a unit) is off by up to an
/// eighth of itself.
pub const COARSE_SCALE_BITS: u32 = 4;

/// A matrix whose rows lost scale in quantisation ([`QuantModel::scale_losses`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScaleLoss {
    /// Which matrix (`token_embedding`, `layer 3's w2`, `classifier`).
    pub tensor: String,
    /// Its rows.
    pub rows: usize,
    /// Rows that hold weights but whose scale rounded to zero: their products are zero.
    pub zero: usize,
    /// Rows whose scale kept fewer than [`COARSE_SCALE_BITS`] bits.
    pub coarse: usize,
}

/// A whole model in Monorail's integer format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuantModel {
    /// Hyper-parameters.
    pub config: ModelConfig,
    /// Token embedding table, one scale per token. // (vocab, dim)
    pub token_embedding: QuantMatrix,
    /// Layers in order.
    pub layers: Vec<QuantLayer>,
    /// final_norm weights.
    pub final_norm: NormWeights,
    /// Classifier when not shared with the embedding. // (vocab, dim)
    pub classifier: Option<QuantMatrix>,
    /// `log2(e) / sqrt(head_size)`: turns attention scores into base-2 softmax exponents.
    pub attention_scale: FixedScale,
    /// RoPE phase step per pair of a head. // (head_size / 2,)
    pub rope_steps: Vec<u32>,
    /// RMSNorm's eps in the units of a norm's sum of squares (`numerics::RmsEps`).
    pub rms_eps: RmsEps,
}

impl QuantModel {
    /// Quantise a float checkpoint.
    pub fn quantize(checkpoint: &Checkpoint) -> QuantModel {
        let c = checkpoint.config;
        let w = &checkpoint.weights;
        let (dim, hidden, kv_dim) = (c.dim, c.hidden_dim, c.kv_dim());
        let layer_matrix = |t: &[f32], l: usize, rows: usize, cols: usize| {
            quantize_matrix(&t[l * rows * cols..(l + 1) * rows * cols], rows, cols)
        };
        let layers = (0..c.n_layers)
            .map(|l| QuantLayer {
                attn_norm: NormWeights::quantize(&w.rms_att[l * dim..(l + 1) * dim]),
                wq: layer_matrix(&w.wq, l, dim, dim),
                wk: layer_matrix(&w.wk, l, kv_dim, dim),
                wv: layer_matrix(&w.wv, l, kv_dim, dim),
                wo: layer_matrix(&w.wo, l, dim, dim),
                ffn_norm: NormWeights::quantize(&w.rms_ffn[l * dim..(l + 1) * dim]),
                w1: layer_matrix(&w.w1, l, hidden, dim),
                w2: layer_matrix(&w.w2, l, dim, hidden),
                w3: layer_matrix(&w.w3, l, hidden, dim),
            })
            .collect();
        let head_size = c.head_size();
        QuantModel {
            config: c,
            token_embedding: quantize_matrix(&w.token_embedding, c.vocab_size, dim),
            layers,
            final_norm: NormWeights::quantize(&w.rms_final),
            classifier: w
                .classifier
                .as_ref()
                .map(|t| quantize_matrix(t, c.vocab_size, dim)),
            attention_scale: FixedScale::from_f64(
                std::f64::consts::LOG2_E / (head_size as f64).sqrt(),
            ),
            rope_steps: (0..head_size / 2)
                .map(|k| rope_phase_step(2 * k, head_size))
                .collect(),
            rms_eps: RmsEps::for_dim(dim),
        }
    }

    /// The classifier matrix (the embedding table when shared).
    pub fn classifier(&self) -> &QuantMatrix {
        self.classifier.as_ref().unwrap_or(&self.token_embedding)
    }

    /// Every matrix with its name, layer by layer: `token_embedding`, each layer's (`layer 3's
    /// wq`, `wk`, `wv`, `wo`, `w1`, `w2`, `w3`), and the classifier when it has one of its own.
    pub fn named_matrices(&self) -> Vec<(String, &QuantMatrix)> {
        let mut named: Vec<(String, &QuantMatrix)> =
            vec![("token_embedding".into(), &self.token_embedding)];
        for (l, layer) in self.layers.iter().enumerate() {
            for (name, m) in [
                ("wq", &layer.wq),
                ("wk", &layer.wk),
                ("wv", &layer.wv),
                ("wo", &layer.wo),
                ("w1", &layer.w1),
                ("w2", &layer.w2),
                ("w3", &layer.w3),
            ] {
                named.push((format!("layer {l}'s {name}"), m));
            }
        }
        if let Some(classifier) = &self.classifier {
            named.push(("classifier".into(), classifier));
        }
        named
    }

    /// The matrices whose row scales the shared exponent leaves coarse (fewer than
    /// [`COARSE_SCALE_BITS`] bits) or zero while the row holds weights (`docs/numerics.md`,
    /// section 4): a row far smaller than its matrix's largest loses its scale, and with it the
    /// golden model's (and the machines') agreement with the float reference. In tensor order;
    /// the matrices that lose nothing are left out.
    pub fn scale_losses(&self) -> Vec<ScaleLoss> {
        self.named_matrices()
            .into_iter()
            .filter_map(|(tensor, m)| {
                let (mut zero, mut coarse) = (0, 0);
                for (row, &mant) in m.q.chunks(m.cols.max(1)).zip(&m.row_scale_mant) {
                    if row.iter().all(|&w| w == 0) {
                        continue;
                    }
                    if mant == 0 {
                        zero += 1;
                    } else if mant < 1 << (COARSE_SCALE_BITS - 1) {
                        coarse += 1;
                    }
                }
                (zero + coarse > 0).then_some(ScaleLoss {
                    tensor,
                    rows: m.rows,
                    zero,
                    coarse,
                })
            })
            .collect()
    }

    /// Whether every tensor has the shape its config gives (as [`QuantModel::quantize`] makes
    /// them): for a model built or changed in code, before anything indexes it. The error
    /// names the first tensor that differs.
    pub fn check_shape(&self) -> Result<(), String> {
        let c = &self.config;
        let (dim, hidden, kv_dim) = (c.dim, c.hidden_dim, c.kv_dim());
        let matrix = |name: String, m: &QuantMatrix, rows: usize, cols: usize| {
            if (m.rows, m.cols) != (rows, cols)
                || m.q.len() != rows * cols
                || m.row_scale_mant.len() != rows
            {
                Err(format!(
                    "{name} is {} x {} ({} weights, {} row scales); the config makes it \
                     {rows} x {cols}",
                    m.rows,
                    m.cols,
                    m.q.len(),
                    m.row_scale_mant.len()
                ))
            } else {
                Ok(())
            }
        };
        let norm = |name: String, n: &NormWeights| {
            if n.mant.len() == dim {
                Ok(())
            } else {
                Err(format!("{name} has {} weights; dim is {dim}", n.mant.len()))
            }
        };
        if self.layers.len() != c.n_layers {
            return Err(format!(
                "{} layers; n_layers is {}",
                self.layers.len(),
                c.n_layers
            ));
        }
        for (l, layer) in self.layers.iter().enumerate() {
            norm(format!("layer {l}'s attn_norm"), &layer.attn_norm)?;
            norm(format!("layer {l}'s ffn_norm"), &layer.ffn_norm)?;
        }
        norm("final_norm".into(), &self.final_norm)?;
        match (&self.classifier, c.shared_classifier) {
            (Some(_), false) | (None, true) => {}
            (Some(_), true) => {
                return Err("a classifier of its own, but the config shares the embedding".into())
            }
            (None, false) => {
                return Err("no classifier, but the config does not share the embedding".into())
            }
        }
        // Each matrix's (rows, cols), in `named_matrices`'s order.
        let per_layer = [
            (dim, dim),
            (kv_dim, dim),
            (kv_dim, dim),
            (dim, dim),
            (hidden, dim),
            (dim, hidden),
            (hidden, dim),
        ];
        let shapes = std::iter::once((c.vocab_size, dim))
            .chain((0..c.n_layers).flat_map(|_| per_layer))
            .chain(self.classifier.as_ref().map(|_| (c.vocab_size, dim)));
        for ((name, m), (rows, cols)) in self.named_matrices().into_iter().zip(shapes) {
            matrix(name, m, rows, cols)?;
        }
        if self.rms_eps != RmsEps::for_dim(c.dim) {
            return Err(format!(
                "RMSNorm's eps term {:?} is not that of dim {}",
                self.rms_eps, c.dim
            ));
        }
        if self.rope_steps.len() != c.head_size() / 2 {
            return Err(format!(
                "{} RoPE phase steps; a head of {} takes {}",
                self.rope_steps.len(),
                c.head_size(),
                c.head_size() / 2
            ));
        }
        Ok(())
    }
}
