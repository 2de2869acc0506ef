//! The built-in models: trained by the project on its own corpus ([`crate::corpus`], with
//! `scripts/train-model.sh`), committed under `models/` with their tokenizer, training config and
//! log, and compiled into the binary, so that everything runs without downloads.

use std::path::Path;

use crate::checkpoint::{self, Checkpoint};
use crate::error::ModelError;
use crate::tokenizer::Tokenizer;

/// A model trained by the project.
pub struct BuiltinModel {
    /// Its name, the folder under `models/`.
    pub name: &'static str,
    /// What it is, in a few words.
    pub description: &'static str,
    checkpoint: &'static [u8],
    tokenizer: &'static [u8],
    train_config: &'static str,
}

macro_rules! builtin {
    ($name:literal, $description:literal) => {
        BuiltinModel {
            name: $name,
            description: $description,
            checkpoint: include_bytes!(concat!("../../../models/", $name, "/model.bin")),
            tokenizer: include_bytes!(concat!("../../../models/", $name, "/tokenizer.bin")),
            train_config: include_str!(concat!("../../../models/", $name, "/train.json")),
        }
    };
}

/// Every built-in model; the first is the default.
pub const MODELS: [BuiltinModel; 3] = [
    builtin!(
        "tales-260k",
        "the stories260K shape trained on the project's stories"
    ),
    builtin!(
        "tales-nano",
        "a 2-layer, 32-wide sibling trained on the same stories"
    ),
    builtin!(
        "tales-pico",
        "a 2-layer, 16-wide sibling of 64 positions, for the Tang Nano 9K"
    ),
];

/// The default model of `monorail run`, `demo` and the tests.
pub fn default_model() -> &'static BuiltinModel {
    &MODELS[0]
}

/// The built-in model called `name`.
pub fn by_name(name: &str) -> Option<&'static BuiltinModel> {
    MODELS.iter().find(|m| m.name == name)
}

impl BuiltinModel {
    /// Its checkpoint and tokenizer.
    pub fn load(&self) -> Result<(Checkpoint, Tokenizer), ModelError> {
        let name = format!("built-in model {}", self.name);
        let checkpoint = checkpoint::parse(self.checkpoint, Path::new(&name))?;
        let tokenizer = Tokenizer::parse(self.tokenizer, checkpoint.config.vocab_size)
            .map_err(|what| ModelError::Invalid(format!("{name}: tokenizer: {what}")))?;
        Ok((checkpoint, tokenizer))
    }

    /// The seed of the corpus it was trained on (its held-out split is for measuring it).
    pub fn corpus_seed(&self) -> u64 {
        let config: serde_json::Value =
            serde_json::from_str(self.train_config).expect("a committed train.json parses");
        config["corpus"]["seed"]
            .as_u64()
            .expect("train.json has corpus.seed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_model_loads_with_its_tokenizer() {
        for model in &MODELS {
            let (checkpoint, tokenizer) = model.load().unwrap();
            assert_eq!(tokenizer.vocab_size(), checkpoint.config.vocab_size);
            let _ = model.corpus_seed();
        }
        assert!(by_name("tales-260k").is_some());
        assert!(by_name("nope").is_none());
    }
}
