//! One error type for the whole core. Every variant carries enough context to tell the user
//! which field or file was wrong, what value it had and what is allowed.

use thiserror::Error;

/// Every failure the core reports; its `Display` is the message shown to the user.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum Error {
    /// A configuration value (URL fragment, CLI flag, worker message) is invalid.
    #[error("{field}={value}: {reason}; allowed: {allowed}")]
    InvalidValue {
        /// The setting's key (e.g. `sigma`) or the message field.
        field: String,
        /// The offending value, as given.
        value: String,
        /// Why it was rejected.
        reason: String,
        /// What would be accepted (a range or a list of words).
        allowed: String,
    },
    /// An unknown configuration key.
    #[error("unknown setting '{field}'; known settings: {known}")]
    UnknownField {
        /// The key as given.
        field: String,
        /// The known keys, comma-separated.
        known: String,
    },
    /// A data or checkpoint file that is malformed, truncated or fails its checksum.
    #[error("{what}: {reason}")]
    BadFile {
        /// Which file or payload (e.g. a checkpoint's name).
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An operation that needs state that is not there yet (e.g. IRS without an FP32 cache).
    #[error("{0}")]
    State(String),
    /// Input/output failure (native only).
    #[error("{path}: {reason}")]
    Io {
        /// The file or directory.
        path: String,
        /// The operating system's message.
        reason: String,
    },
}

impl Error {
    /// An [`Error::InvalidValue`]: `field` had `value`, rejected for `reason`; `allowed` says
    /// what would be accepted.
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
    /// A [`Error::BadFile`]: `what` is malformed for `reason`.
    pub fn bad_file(what: &str, reason: impl ToString) -> Self {
        Error::BadFile {
            what: what.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// The core's result type, failing with [`Error`](enum@Error).
pub type Result<T> = std::result::Result<T, Error>;
