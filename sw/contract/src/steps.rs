//! The names of the model steps of one token, in forward-pass order.
//!
//! The float reference, the golden model, the compiler's ops, the co-simulation checkpoints and
//! the listings all use these names, so a checkpoint reported by the hardware reads the same as
//! the line of the forward pass it comes from.

use std::fmt;

/// One step of a token's forward pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ModelStep {
    /// Token embedding lookup: the residual stream starts as the token's row.
    Embedding,
    /// RMSNorm before attention (layer step).
    AttnNorm,
    /// The query, key and value projections (layer step).
    Qkv,
    /// Rotary position embedding of queries and keys (layer step).
    Rope,
    /// Attention over the key/value cache (layer step).
    Attention,
    /// The output projection, added into the residual stream (layer step).
    Wo,
    /// RMSNorm before the feed-forward block (layer step).
    FfnNorm,
    /// SwiGLU feed-forward, added into the residual stream (layer step).
    Ffn,
    /// RMSNorm after the last layer.
    FinalNorm,
    /// The vocabulary projection.
    Classifier,
    /// The next token: the index of the largest logit.
    Argmax,
}

impl ModelStep {
    /// Every step, in forward-pass order (layer steps once).
    pub const ALL: [ModelStep; 11] = [
        ModelStep::Embedding,
        ModelStep::AttnNorm,
        ModelStep::Qkv,
        ModelStep::Rope,
        ModelStep::Attention,
        ModelStep::Wo,
        ModelStep::FfnNorm,
        ModelStep::Ffn,
        ModelStep::FinalNorm,
        ModelStep::Classifier,
        ModelStep::Argmax,
    ];

    /// The step's name as written everywhere (`attn_norm`, `qkv`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ModelStep::Embedding => "embedding",
            ModelStep::AttnNorm => "attn_norm",
            ModelStep::Qkv => "qkv",
            ModelStep::Rope => "rope",
            ModelStep::Attention => "attention",
            ModelStep::Wo => "wo",
            ModelStep::FfnNorm => "ffn_norm",
            ModelStep::Ffn => "ffn",
            ModelStep::FinalNorm => "final_norm",
            ModelStep::Classifier => "classifier",
            ModelStep::Argmax => "argmax",
        }
    }

    /// The step of a layer as the listing and the timeline label it: `qkv.2`, or the step's
    /// name alone outside the layers (`classifier`).
    pub fn label(self, layer: Option<usize>) -> String {
        match layer {
            Some(l) => format!("{}.{l}", self.name()),
            None => self.name().to_string(),
        }
    }

    /// Whether the step runs once per layer.
    pub fn per_layer(self) -> bool {
        matches!(
            self,
            ModelStep::AttnNorm
                | ModelStep::Qkv
                | ModelStep::Rope
                | ModelStep::Attention
                | ModelStep::Wo
                | ModelStep::FfnNorm
                | ModelStep::Ffn
        )
    }

    /// The step's place in [`ModelStep::ALL`], for tables indexed by step.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The step with this name.
    pub fn from_name(name: &str) -> Option<ModelStep> {
        ModelStep::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl fmt::Display for ModelStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The integer values a model step produced: mantissas and the exponents of their parts (one
/// exponent for a plain vector; `qkv` holds q, k and v with one exponent each; `argmax` holds the
/// token and no exponent). The golden model records them; every machine reports them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepValues {
    /// Which step.
    pub step: ModelStep,
    /// Which layer, for layer steps.
    pub layer: Option<usize>,
    /// Mantissas (for `argmax`, the token).
    pub mant: Vec<i32>,
    /// Exponents, one per part.
    pub exps: Vec<i32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for step in ModelStep::ALL {
            assert_eq!(ModelStep::from_name(step.name()), Some(step));
        }
        assert_eq!(ModelStep::from_name("softmax"), None);
        assert_eq!(ModelStep::Qkv.label(Some(2)), "qkv.2");
        assert_eq!(ModelStep::Classifier.label(None), "classifier");
    }

    #[test]
    fn the_index_is_the_place_in_forward_pass_order() {
        for (i, step) in ModelStep::ALL.into_iter().enumerate() {
            assert_eq!(step.index(), i, "{step}");
        }
    }
}
