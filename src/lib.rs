//! dicomveil: de-identification of DICOM files by the confidentiality profiles of DICOM PS3.15.
//!
//! The engine follows the data: [`read`] parses a file into a tree of raw elements
//! ([`dataset`]), [`profile`] compiles a profile into a lookup table, [`anonymize`] decides and
//! applies each element's action ([`action`], [`uid`]), and [`write`] encodes the result.
//! Pixel data and other bulk values are never decoded nor loaded: they are copied from the input
//! when the output is written.
//!
//! The Python bindings live in `python` (cargo feature `python`), so `cargo test` needs no
//! Python.

pub mod action;
pub mod anonymize;
pub mod batch;
pub mod clean;
pub mod codecs;
pub mod dataset;
pub mod dest;
pub mod dump;
pub mod encapsulated;
pub mod error;
pub mod iod;
pub mod jpegredact;
pub mod names;
pub mod naming;
pub mod pixels;
pub mod pixrules;
pub mod profile;
pub mod read;
pub mod rle;
pub mod rules;
pub mod script;
pub mod sink;
pub mod textscan;
pub mod uid;
pub mod value;
pub mod verify;
pub mod write;

#[cfg(feature = "python")]
mod python;

pub use anonymize::{Anonymizer, Counts, Outcome};
pub use dataset::{DataSet, DicomFile, Element, Value};
pub use error::{Error, Result};
pub use profile::{Action, CompiledProfile};
pub use read::{read_bytes, read_path};
pub use uid::UidMapper;
pub use write::{save, to_bytes};
