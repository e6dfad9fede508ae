//! One error type for the whole core. Every variant carries enough context to tell the user
//! which field or file was wrong, what value it had and what is allowed.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum Error {
    /// A configuration value (URL fragment, CLI flag, worker message) is invalid.
    #[error("{field}={value}: {reason}; allowed: {allowed}")]
    InvalidValue {
        field: String,
        value: String,
        reason: String,
        allowed: String,
    },
    /// An unknown configuration key.
    #[error("unknown setting '{field}'; known settings: {known}")]
    UnknownField { field: String, known: String },
    /// A data or checkpoint file that is malformed, truncated or fails its checksum.
    #[error("{what}: {reason}")]
    BadFile { what: String, reason: String },
    /// An operation that needs state that is not there yet (e.g. IRS without an FP32 cache).
    #[error("{0}")]
    State(String),
    /// Input/output failure (native only).
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
}

impl Error {
    pub fn invalid(
        field: &str,
        value: impl ToString,
        reason: &str,
        allowed: impl ToString,
    ) -> Self {
        Error::InvalidValue {
            field: field.to_string(),
            value: value.to_string(),
            reason: reason.to_string(),
            allowed: allowed.to_string(),
        }
    }
    pub fn bad_file(what: &str, reason: impl ToString) -> Self {
        Error::BadFile {
            what: what.to_string(),
            reason: reason.to_string(),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
