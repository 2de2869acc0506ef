//! The command line's one error type: a message for the user and the exit status it deserves
//! (2: the input was refused, 1: something else failed).

use monorail_model::ModelError;

/// An error for the user, with the exit status it deserves.
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    /// The input was refused (a bad file, flag or combination): exit status 2.
    pub fn refused(message: impl Into<String>) -> CliError {
        CliError {
            code: 2,
            message: message.into(),
        }
    }

    /// Something other than the input failed (a tool, a write, a simulation): exit status 1.
    pub fn failed(message: impl Into<String>) -> CliError {
        CliError {
            code: 1,
            message: message.into(),
        }
    }

    /// The same error, its message prefixed with what it happened to (`ulx3s-85f: ...`).
    pub fn about(self, what: &str) -> CliError {
        CliError {
            message: format!("{what}: {}", self.message),
            ..self
        }
    }
}

impl From<ModelError> for CliError {
    fn from(e: ModelError) -> CliError {
        CliError::refused(e.to_string())
    }
}

/// [`CliError::refused`], for `map_err`.
pub fn refused(message: impl Into<String>) -> CliError {
    CliError::refused(message)
}

/// [`CliError::failed`] of any error's text, for `map_err`.
pub fn failed(e: impl std::fmt::Display) -> CliError {
    CliError::failed(e.to_string())
}
