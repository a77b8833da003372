//! JSON rendering shared by the subcommands: names that may not be UTF-8,
//! float values that JSON cannot always hold, and exit codes.

use std::fmt::Write as _;
use std::io::{self, Write};

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

/// Everything checked out.
pub const EXIT_OK: i32 = 0;
/// Damage was found.
pub const EXIT_DAMAGED: i32 = 1;
/// Bad usage or an I/O error.
pub const EXIT_ERROR: i32 = 2;

pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        write!(out, "{b:02x}").expect("writing to a String");
    }
    out
}

/// A name as a JSON value: the string when it is UTF-8, else
/// `{"hex":"..."}`.
pub struct Name<'a>(pub &'a [u8]);

impl Serialize for Name<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(self.0) {
            Ok(text) => serializer.serialize_str(text),
            Err(_) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("hex", &hex(self.0))?;
                map.end()
            }
        }
    }
}

/// A name as a JSON object key (which must be a string): the string when it
/// is UTF-8, else `"hex:<digits>"`.
pub fn key(name: &[u8]) -> String {
    match std::str::from_utf8(name) {
        Ok(text) => text.to_string(),
        Err(_) => format!("hex:{}", hex(name)),
    }
}

/// A list of names, e.g. a selector.
pub struct Names<I>(pub I);

impl<'a, I: Iterator<Item = &'a [u8]> + Clone> Serialize for Names<I> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(None)?;
        for name in self.0.clone() {
            seq.serialize_element(&Name(name))?;
        }
        seq.end()
    }
}

/// A float as JSON: a number when finite, else null.
pub fn finite<F: Into<f64> + Copy>(value: F) -> Option<F> {
    value.into().is_finite().then_some(value)
}

/// Writes one JSON value and a newline.
pub fn json_line<W: Write, T: Serialize>(out: &mut W, value: &T) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value).map_err(io::Error::other)?;
    out.write_all(b"\n")
}

/// Maps the end of a run to an exit code: a closed pipe (`| head`) is not
/// an error worth reporting; other write errors are.
pub fn finish_output(result: io::Result<i32>) -> i32 {
    match result {
        Ok(code) => code,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => EXIT_OK,
        Err(e) => {
            eprintln!("ccwal: writing output: {e}");
            EXIT_ERROR
        }
    }
}
