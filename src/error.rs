//! Errors of the engine.
//!
//! Every variant names the operation that failed and carries what a user needs to find the
//! problem (file, tag path, byte offset) and nothing else: never a value of the dataset (it may
//! be patient data) and never a key.

use std::fmt;
use std::io;

/// A position in a dataset, for error messages: byte offset and the path of tags leading to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// Byte offset in the (inflated) input stream.
    pub offset: u64,
    /// Tags from the top level down, e.g. `(0008,1140)[0] > (0008,1155)`.
    pub path: String,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "at byte {}", self.offset)
        } else {
            write!(f, "at byte {} in {}", self.offset, self.path)
        }
    }
}

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be opened, read, created or renamed.
    #[error("{name}: cannot {op}: {source}")]
    Io {
        name: String,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    /// The input is not DICOM or is malformed (truncated, lengths past the end, bad items).
    #[error("{name}: not a valid DICOM file: {problem} ({location})")]
    InvalidDicom {
        name: String,
        problem: String,
        location: Location,
    },
    /// The input is not DICOM at all (no DICM prefix and no recognisable dataset).
    #[error("{name}: not a DICOM file (no DICM prefix and no recognisable dataset at the start)")]
    NotDicom { name: String },
    /// The transfer syntax is not one that can be read.
    #[error("{name}: unsupported transfer syntax {uid}")]
    UnsupportedTransferSyntax { name: String, uid: String },
    /// A valid file that dicomveil refuses to process (e.g. a DICOMDIR).
    #[error("{name}: {what}")]
    Unsupported { name: String, what: String },
    /// The file may carry burned-in annotation and the anonymizer refuses such files.
    #[error(
        "{name}: may carry burned-in annotation (BurnedInAnnotation is YES, or its SOP class \
             often has text in the pixels and BurnedInAnnotation is not NO): refused"
    )]
    BurnedIn { name: String },
    /// A profile could not be compiled.
    #[error("{source_name}: {location}: {problem}")]
    Profile {
        source_name: String,
        location: String,
        problem: String,
    },
    /// A value given for an element does not fit its VR.
    #[error("{tag}: {problem}")]
    Value { tag: String, problem: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Name the input this error is about (errors deep in the reader do not know it).
    pub fn with_name(mut self, new_name: &str) -> Self {
        match &mut self {
            Error::Io { name, .. }
            | Error::InvalidDicom { name, .. }
            | Error::NotDicom { name }
            | Error::BurnedIn { name }
            | Error::UnsupportedTransferSyntax { name, .. }
            | Error::Unsupported { name, .. } => {
                if name.is_empty() {
                    *name = new_name.to_string()
                }
            }
            Error::Profile { .. } | Error::Value { .. } => {}
        }
        self
    }
}
