//! Validation of the names that end up in paths and in WAL records.
//!
//! Everything here refuses rather than truncates: the Go writer silently cut
//! overlong lengths and kept the CRC valid, so its reader returned altered
//! records. A name that does not fit the format is an error for the caller.

use std::fmt;

/// Longest metric name a WAL record or snapshot can carry (u16 length).
pub const MAX_METRIC_NAME_LEN: usize = u16::MAX as usize;
/// Most selector components a WAL record can carry (u8 count).
pub const MAX_SELECTOR_DEPTH: usize = u8::MAX as usize;
/// Longest selector component a WAL record can carry (u8 length).
pub const MAX_SELECTOR_LEN: usize = u8::MAX as usize;
/// Longest cluster or host name; a path component longer than this is
/// refused by every common file system (NAME_MAX).
pub const MAX_PATH_COMPONENT_LEN: usize = 255;

/// Which name a [`NameError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NameField {
    /// The cluster name.
    Cluster,
    /// The host name.
    Host,
    /// The metric name.
    Metric,
    /// A selector component, with its index.
    Selector(usize),
    /// A child level name inside a snapshot.
    Child,
}

impl fmt::Display for NameField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameField::Cluster => f.write_str("cluster"),
            NameField::Host => f.write_str("host"),
            NameField::Metric => f.write_str("metric name"),
            NameField::Selector(i) => write!(f, "selector[{i}]"),
            NameField::Child => f.write_str("child level name"),
        }
    }
}

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    /// Longer than the format or the file system allows.
    TooLong {
        /// Which name.
        field: NameField,
        /// Its length in bytes.
        len: usize,
        /// The longest allowed.
        max: usize,
    },
    /// More selector components than a record can carry.
    TooManySelectors {
        /// The number of components.
        count: usize,
    },
    /// Empty, ".", or contains "..", "/", "\\" or NUL: it would not be a
    /// single, distinct directory below the root.
    NotAPathComponent {
        /// Which name.
        field: NameField,
    },
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::TooLong { field, len, max } => {
                write!(f, "{field} is {len} bytes long, at most {max} fit")
            }
            NameError::TooManySelectors { count } => write!(
                f,
                "selector has {count} components, at most {MAX_SELECTOR_DEPTH} fit"
            ),
            NameError::NotAPathComponent { field } => write!(
                f,
                "{field} must be a single directory name: not empty or \".\", \
                 without \"..\", \"/\", \"\\\" or NUL"
            ),
        }
    }
}

impl std::error::Error for NameError {}

/// Checks a cluster or host name before it becomes a directory below ROOT.
///
/// Stricter than Go in one respect: an empty name (which Go accepts, putting
/// the files where its own restore never looks) and "." are refused, so no
/// accepted sample lands in a place restore cannot find.
pub fn validate_path_component(field: NameField, name: &[u8]) -> Result<(), NameError> {
    if name.len() > MAX_PATH_COMPONENT_LEN {
        return Err(NameError::TooLong {
            field,
            len: name.len(),
            max: MAX_PATH_COMPONENT_LEN,
        });
    }
    // One pass: every single append checks its cluster and host.
    let mut previous = 0u8;
    let mut refused = name.is_empty() || name == b".";
    for &b in name {
        refused |= b == b'/' || b == b'\\' || b == 0 || (b == b'.' && previous == b'.');
        previous = b;
    }
    if refused {
        return Err(NameError::NotAPathComponent { field });
    }
    Ok(())
}

/// Checks that a metric name fits its u16 length field.
pub fn validate_metric(name: &[u8]) -> Result<(), NameError> {
    if name.len() > MAX_METRIC_NAME_LEN {
        return Err(NameError::TooLong {
            field: NameField::Metric,
            len: name.len(),
            max: MAX_METRIC_NAME_LEN,
        });
    }
    Ok(())
}

/// Checks that a selector fits its u8 count and u8 length fields.
pub fn validate_selector<S: AsRef<[u8]>>(selector: &[S]) -> Result<(), NameError> {
    if selector.len() > MAX_SELECTOR_DEPTH {
        return Err(NameError::TooManySelectors {
            count: selector.len(),
        });
    }
    for (i, component) in selector.iter().enumerate() {
        let len = component.as_ref().len();
        if len > MAX_SELECTOR_LEN {
            return Err(NameError::TooLong {
                field: NameField::Selector(i),
                len,
                max: MAX_SELECTOR_LEN,
            });
        }
    }
    Ok(())
}

/// Checks every name of a sample: cluster and host as directories, metric
/// and selector against their WAL fields.
pub fn validate_sample<S: AsRef<[u8]>>(
    cluster: &[u8],
    host: &[u8],
    metric: &[u8],
    selector: &[S],
) -> Result<(), NameError> {
    validate_path_component(NameField::Cluster, cluster)?;
    validate_path_component(NameField::Host, host)?;
    validate_metric(metric)?;
    validate_selector(selector)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_components() {
        let ok: &[&[u8]] = &[b"fritz", b"f0101", b"a.b", b".x", b"x.", b"\xff"];
        for name in ok {
            assert_eq!(
                validate_path_component(NameField::Host, name),
                Ok(()),
                "{name:?}"
            );
        }
        let bad: &[&[u8]] = &[b"", b".", b"..", b"a/b", b"a\\b", b"a\0b", b"x..y", b"../x"];
        for name in bad {
            assert_eq!(
                validate_path_component(NameField::Host, name),
                Err(NameError::NotAPathComponent {
                    field: NameField::Host
                }),
                "{name:?}"
            );
        }
        let long = vec![b'a'; 256];
        assert!(matches!(
            validate_path_component(NameField::Cluster, &long),
            Err(NameError::TooLong {
                len: 256,
                max: 255,
                ..
            })
        ));
    }

    #[test]
    fn metric_and_selector_limits() {
        assert!(validate_metric(&vec![b'm'; 65535]).is_ok());
        assert!(validate_metric(&vec![b'm'; 65536]).is_err());
        let sel = vec![vec![b's'; 255]; 255];
        assert!(validate_selector(&sel).is_ok());
        let too_many = vec![b"s".as_slice(); 256];
        assert_eq!(
            validate_selector(&too_many),
            Err(NameError::TooManySelectors { count: 256 })
        );
        let too_long = [b"ok".to_vec(), vec![b's'; 256]];
        assert_eq!(
            validate_selector(&too_long),
            Err(NameError::TooLong {
                field: NameField::Selector(1),
                len: 256,
                max: 255
            })
        );
    }
}
