//! The crate's error type for operations with side effects (engine,
//! checkpoint, restore). Pure codecs have their own precise error enums,
//! which convert into this one.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    /// ccwal panicked (a bug), caught at the C boundary; the handle
    /// involved should not be used again.
    Panic,
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
            ErrorKind::Panic => "panic",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error with its kind, a message that names what was affected, the
/// file or directory concerned when there is one, the OS error code, and
/// the error underneath (for an I/O error, the `io::Error`; see
/// [`std::error::Error::source`]).
#[derive(Debug, Clone)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    os_code: Option<i32>,
    path: Option<PathBuf>,
    /// Shared so that errors stay `Clone` (reports hand copies out).
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    /// An error of `kind` with a message naming what was affected.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            os_code: None,
            path: None,
            source: None,
        }
    }

    /// An I/O error with context, e.g. `Error::io("start a writer thread",
    /// &e)`; for an operation on a file, [`Error::io_at`] also keeps the
    /// path.
    pub fn io(context: impl fmt::Display, err: &io::Error) -> Self {
        Error {
            kind: ErrorKind::Io,
            message: format!("{context}: {err}"),
            os_code: err.raw_os_error(),
            path: None,
            source: Some(Arc::new(copy_io_error(err))),
        }
    }

    /// An I/O error of the operation `what` (a verb: "open", "fsync") on
    /// `path`; the message reads "{what} {path}: {err}".
    pub fn io_at(what: &str, path: &Path, err: &io::Error) -> Self {
        Error::io(format_args!("{what} {}", path.display()), err).with_path(path)
    }

    /// The same error, concerning the file or directory `path`.
    pub fn with_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
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

    /// The file or directory concerned, when the error is about one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

/// `io::Error` is not `Clone`: a copy with the same OS code, or the same
/// kind and text.
fn copy_io_error(err: &io::Error) -> io::Error {
    match err.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(err.kind(), err.to_string()),
    }
}

/// Equal when kind, message, OS code and path are (the source is already
/// in the message).
impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        (self.kind, &self.message, self.os_code, &self.path)
            == (other.kind, &other.message, other.os_code, &other.path)
    }
}

impl Eq for Error {}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<NameError> for Error {
    fn from(e: NameError) -> Self {
        let mut error = Error::new(ErrorKind::InvalidName, e.to_string());
        error.source = Some(Arc::new(e));
        error
    }
}

/// A result with ccwal's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn an_io_error_keeps_its_path_os_code_and_source() {
        let cause = io::Error::from_raw_os_error(libc::ENOSPC);
        let error = Error::io_at("write", Path::new("/r/c/h/current.wal"), &cause);
        assert_eq!(error.kind(), ErrorKind::Io);
        assert_eq!(error.path(), Some(Path::new("/r/c/h/current.wal")));
        assert_eq!(error.os_code(), Some(libc::ENOSPC));
        assert!(
            error.message().starts_with("write /r/c/h/current.wal: "),
            "{error}"
        );
        let source = error.source().expect("a source");
        let io = source.downcast_ref::<io::Error>().expect("an io::Error");
        assert_eq!(io.raw_os_error(), Some(libc::ENOSPC));
        assert_eq!(io.kind(), io::ErrorKind::StorageFull);
        // Copies keep all of it.
        let copy = error.clone();
        assert_eq!(copy, error);
        assert!(copy.source().is_some());
    }

    #[test]
    fn an_error_without_os_code_keeps_the_io_kind_and_text() {
        let cause = io::Error::new(io::ErrorKind::UnexpectedEof, "short read");
        let error = Error::io("read a header", &cause);
        assert_eq!((error.os_code(), error.path()), (None, None));
        let io = error.source().unwrap().downcast_ref::<io::Error>().unwrap();
        assert_eq!(io.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(io.to_string(), "short read");
    }

    #[test]
    fn a_refused_name_keeps_the_name_error_as_source() {
        let error = Error::from(NameError::TooManySelectors { count: 99 });
        assert_eq!(error.kind(), ErrorKind::InvalidName);
        assert!(error.source().unwrap().is::<NameError>());
        assert_eq!(error.message(), error.source().unwrap().to_string());
    }

    #[test]
    fn with_path_adds_the_path_to_any_kind() {
        let error = Error::new(ErrorKind::Corrupt, "bad magic").with_path("/r/c/h/1.bin");
        assert_eq!(error.path(), Some(Path::new("/r/c/h/1.bin")));
        assert_ne!(error, Error::new(ErrorKind::Corrupt, "bad magic"));
        assert!(error.source().is_none());
    }
}
