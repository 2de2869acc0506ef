//! The errors of model loading and generation. Each names the file and what is wrong with it.

use std::path::PathBuf;

use monorail_contract::model_config::ModelConfigError;
use thiserror::Error;

/// An error of the model crate.
#[derive(Debug, Error)]
pub enum ModelError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file is not a well-formed checkpoint or tokenizer.
    #[error("{path}: {what}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where.
        what: String,
    },
    /// The checkpoint header holds impossible hyper-parameters.
    #[error("{path}: bad model header: {source}")]
    Config {
        /// The file.
        path: PathBuf,
        /// Which field is wrong.
        source: ModelConfigError,
    },
    /// A request the model cannot serve (a prompt token outside the vocabulary, a bad option).
    #[error("{0}")]
    Invalid(String),
    /// Text cannot be encoded: the tokenizer's first `vocab` tokens have no `" "` for run.c's
    /// dummy prefix (the caller says what to give instead).
    #[error(
        "the tokenizer's first {vocab} tokens (the model's vocabulary) have no \" \" token for \
         llama2.c's dummy prefix, so text cannot be encoded as run.c does"
    )]
    NoDummyPrefix {
        /// The model's vocabulary size.
        vocab: usize,
    },
}

/// The size of `path`, a regular file: checked before it is opened, as opening a named pipe
/// waits for a writer and a device (`/dev/zero`) has no end.
pub(crate) fn regular_file_len(path: &std::path::Path) -> Result<u64, ModelError> {
    let meta = std::fs::metadata(path).map_err(|e| ModelError::io(path, e))?;
    if !meta.is_file() {
        return Err(ModelError::format(
            path,
            "not a regular file (a checkpoint or tokenizer is read from a file)",
        ));
    }
    Ok(meta.len())
}

impl ModelError {
    pub(crate) fn format(path: &std::path::Path, what: impl Into<String>) -> ModelError {
        ModelError::Format {
            path: path.to_path_buf(),
            what: what.into(),
        }
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> ModelError {
        ModelError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
