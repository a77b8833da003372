//! The crate's error type for operations with side effects (engine,
//! checkpoint, restore). Pure codecs have their own precise error enums,
//! which convert into this one.

use std::fmt;
use std::io;

use crate::names::NameError;

/// What went wrong, in a form a caller (or the C ABI's result codes) can
/// switch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A cluster, host, metric or selector name was refused.
    InvalidName,
    /// An argument is out of range or inconsistent (for example options).
    InvalidArgument,
    /// A bounded queue was full and the backpressure policy is `Reject`.
    QueueFull,
    /// A blocking call gave up after its timeout.
    Timeout,
    /// The handle was closed; nothing more is accepted.
    Closed,
    /// A file system call failed.
    Io,
    /// A file's content is damaged or not of the expected format (a bad
    /// magic number or checksum, a truncation, bytes that do not decode).
    Corrupt,
    /// Intact files that break the layout's or the restore's rules: a
    /// snapshot name that is not a number, a file where only cluster and
    /// host directories belong, a snapshot whose chunk starts before the
    /// chunk an earlier snapshot loaded. Reading again will not help;
    /// renaming, moving or removing the file will.
    Format,
}

impl ErrorKind {
    /// A short, stable name for logs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidName => "invalid_name",
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::QueueFull => "queue_full",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Closed => "closed",
            ErrorKind::Io => "io",
            ErrorKind::Corrupt => "corrupt",
            ErrorKind::Format => "format",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error with its kind, a message that names what was affected, and the
/// OS error code when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    os_code: Option<i32>,
}

impl Error {
    /// An error of `kind` with a message naming what was affected.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            os_code: None,
        }
    }

    /// An I/O error with context, e.g. `Error::io("open /x/current.wal", e)`.
    pub fn io(context: impl fmt::Display, err: &io::Error) -> Self {
        Error {
            kind: ErrorKind::Io,
            message: format!("{context}: {err}"),
            os_code: err.raw_os_error(),
        }
    }

    /// The same error with `context` added to its message.
    pub fn with_context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{} ({context})", self.message);
        self
    }

    /// The kind of error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The errno behind an `Io` error, when the OS reported one.
    pub fn os_code(&self) -> Option<i32> {
        self.os_code
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<NameError> for Error {
    fn from(e: NameError) -> Self {
        Error::new(ErrorKind::InvalidName, e.to_string())
    }
}

/// A result with ccwal's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
