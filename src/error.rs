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
    /// Clean Pixel Data applies to the file and its pixels cannot be cleaned (compressed,
    /// a layout not supported, inconsistent): refused, never written uncleaned.
    #[error("{name}: pixel data cannot be cleaned: {problem}: refused")]
    PixelData { name: String, problem: String },
    /// A rule of the profile refuses the file: a value action said `@skip()` or
    /// `@quarantine()`, a lookup found no key, or the value it computed does not fit the VR.
    #[error("{name}: refused by the profile: {problem}")]
    Refused { name: String, problem: String },
    /// Text in the pixels is to be found and blanked (OCR) and the OCR engine cannot run
    /// (not installed, no language data): refused, never written uncleaned.
    #[error("{name}: {what}: refused")]
    OcrUnavailable { name: String, what: String },
    /// A profile could not be compiled.
    #[error("{}{location}: {problem}", named(.source_name))]
    Profile {
        source_name: String,
        location: String,
        problem: String,
    },
    /// A value given for an element does not fit its VR.
    #[error("{tag}: {problem}")]
    Value { tag: String, problem: String },
    /// A naming template is malformed, or gives a path that cannot be used.
    #[error("naming template {template:?}: {problem}")]
    Template { template: String, problem: String },
    /// A path given to a run cannot be used as asked (a destination inside the source, an
    /// output that would overwrite an input, an audit log over an input or an output...).
    #[error("{path}: {problem}")]
    Path { path: String, problem: String },
    /// The destination is in use: another run holds its lock (`lock`, the lock file), and
    /// `holder` says which run (pid, host, start time) as far as the lock file tells.
    #[error(
        "{lock}: the destination is in use by another dicomveil run ({holder}): wait for it to \
         end, or write elsewhere"
    )]
    Busy { lock: String, holder: String },
    /// The engine failed where it should not (a panic caught at a boundary): a bug.
    #[error("{}internal error in the dicomveil engine (please report it): {what}", named(.name))]
    Internal { name: String, what: String },
}

/// The exception class of `dicomveil.errors` each error kind becomes, by name; Python turns a
/// kind into its class with `dicomveil.errors.error_class` (the one place that does).
pub const KINDS: &[&str] = &[
    "DicomveilError",
    "FileAccessError",
    "InvalidDicomError",
    "NotDicomError",
    "UnsupportedTransferSyntaxError",
    "UnsupportedDicomError",
    "BurnedInAnnotationError",
    "PixelDataError",
    "OcrUnavailableError",
    "ProfileError",
    "DicomValueError",
    "NamingTemplateError",
    "PathError",
    "DestinationBusyError",
    "RefusedByProfileError",
];

/// `name: ` before a message, or nothing when there is no name.
fn named(name: &str) -> String {
    if name.is_empty() {
        String::new()
    } else {
        format!("{name}: ")
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The kind of error: the name of its exception class in `dicomveil.errors` (one of
    /// [`KINDS`]).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Io { .. } => "FileAccessError",
            Error::InvalidDicom { .. } => "InvalidDicomError",
            Error::NotDicom { .. } => "NotDicomError",
            Error::UnsupportedTransferSyntax { .. } => "UnsupportedTransferSyntaxError",
            Error::Unsupported { .. } => "UnsupportedDicomError",
            Error::BurnedIn { .. } => "BurnedInAnnotationError",
            Error::PixelData { .. } => "PixelDataError",
            Error::Refused { .. } => "RefusedByProfileError",
            Error::OcrUnavailable { .. } => "OcrUnavailableError",
            Error::Profile { .. } => "ProfileError",
            Error::Value { .. } => "DicomValueError",
            Error::Template { .. } => "NamingTemplateError",
            Error::Path { .. } => "PathError",
            Error::Busy { .. } => "DestinationBusyError",
            Error::Internal { .. } => "DicomveilError",
        }
    }

    /// The error of a panic caught at a boundary, for `name` (a file, or what was running).
    pub fn from_panic(name: &str, panic: &(dyn std::any::Any + Send)) -> Error {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        Error::Internal {
            name: name.to_string(),
            what,
        }
    }

    /// Name the input this error is about (errors deep in the reader do not know it).
    pub fn with_name(mut self, new_name: &str) -> Self {
        match &mut self {
            Error::Io { name, .. }
            | Error::InvalidDicom { name, .. }
            | Error::NotDicom { name }
            | Error::BurnedIn { name }
            | Error::PixelData { name, .. }
            | Error::Refused { name, .. }
            | Error::OcrUnavailable { name, .. }
            | Error::UnsupportedTransferSyntax { name, .. }
            | Error::Unsupported { name, .. }
            | Error::Internal { name, .. } => {
                if name.is_empty() {
                    *name = new_name.to_string()
                }
            }
            Error::Profile { .. }
            | Error::Value { .. }
            | Error::Template { .. }
            | Error::Path { .. }
            | Error::Busy { .. } => {}
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_listed() {
        let errors = [
            Error::Io {
                name: "f".into(),
                op: "read",
                source: io::Error::other("x"),
            },
            Error::InvalidDicom {
                name: "f".into(),
                problem: "p".into(),
                location: Location::default(),
            },
            Error::NotDicom { name: "f".into() },
            Error::UnsupportedTransferSyntax {
                name: "f".into(),
                uid: "1.2".into(),
            },
            Error::Unsupported {
                name: "f".into(),
                what: "w".into(),
            },
            Error::BurnedIn { name: "f".into() },
            Error::PixelData {
                name: "f".into(),
                problem: "p".into(),
            },
            Error::Refused {
                name: "f".into(),
                problem: "p".into(),
            },
            Error::OcrUnavailable {
                name: "f".into(),
                what: "w".into(),
            },
            Error::Profile {
                source_name: "s".into(),
                location: "l".into(),
                problem: "p".into(),
            },
            Error::Value {
                tag: "t".into(),
                problem: "p".into(),
            },
            Error::Template {
                template: "t".into(),
                problem: "p".into(),
            },
            Error::Path {
                path: "p".into(),
                problem: "p".into(),
            },
            Error::Busy {
                lock: "l".into(),
                holder: "h".into(),
            },
            Error::from_panic("f", &"boom"),
        ];
        for e in &errors {
            assert!(KINDS.contains(&e.kind()), "{}", e.kind());
        }
        let kinds: std::collections::HashSet<_> = errors.iter().map(Error::kind).collect();
        assert_eq!(kinds.len(), KINDS.len());
        assert_eq!(
            Error::from_panic("a.dcm", &"boom").to_string(),
            "a.dcm: internal error in the dicomveil engine (please report it): boom"
        );
    }
}
