//! The one error type that reaches `main`, and the exit codes of the contract.
//!
//! Every failure a user can see carries a kind that decides the exit code
//! and a message that states what failed, on which value, and what to do next.

use std::fmt;

/// Exit codes of the command-line contract (sysexits-style where one fits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Some invoices or payments failed; details are in the report (exit 1).
    Failed,
    /// Wrong command-line usage (exit 2).
    Usage,
    /// The input file is invalid and nothing was sent (exit 65).
    InvalidInput,
    /// Rate limit, network or Xero unavailable; safe to rerun (exit 75).
    Temporary,
    /// Not connected, or the connection expired or was revoked (exit 77).
    NotConnected,
    /// Invalid configuration (exit 78).
    Config,
}

impl Kind {
    pub fn exit_code(self) -> i32 {
        match self {
            Kind::Failed => 1,
            Kind::Usage => 2,
            Kind::InvalidInput => 65,
            Kind::Temporary => 75,
            Kind::NotConnected => 77,
            Kind::Config => 78,
        }
    }
}

/// A failure with the exit code it maps to and a message for the user.
#[derive(Debug)]
pub struct Error {
    pub kind: Kind,
    pub message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(Kind::Failed, message)
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Kind::Usage, message)
    }

    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(Kind::InvalidInput, message)
    }

    pub fn temporary(message: impl Into<String>) -> Self {
        Self::new(Kind::Temporary, message)
    }

    pub fn not_connected(message: impl Into<String>) -> Self {
        Self::new(Kind::NotConnected, message)
    }

    pub fn config(message: impl Into<String>) -> Self {
        Self::new(Kind::Config, message)
    }

    /// Prefixes the message with what was being done, keeping the kind.
    pub fn context(self, doing: impl fmt::Display) -> Self {
        Error {
            kind: self.kind,
            message: format!("{doing}: {}", self.message),
        }
    }

    pub fn exit_code(&self) -> i32 {
        self.kind.exit_code()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Wraps an I/O failure on `path` as a general failure naming the path.
pub fn io_error(doing: &str, path: &std::path::Path, err: std::io::Error) -> Error {
    Error::failed(format!("{doing} {}: {err}", path.display()))
}

impl Error {
    /// Returns the same message under another exit code.
    pub fn with_kind(self, kind: Kind) -> Self {
        Error {
            kind,
            message: self.message,
        }
    }
}
