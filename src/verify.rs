//! Verify: a leak scan of de-identified output.
//!
//! Without the originals it checks what every output must satisfy: PatientIdentityRemoved is
//! YES, no private attribute is left that the profile removes, no attribute the profile removes
//! is present. With the originals it also gathers every identifying value they hold (person
//! names at any depth, IDs, birth dates in common written forms, accession numbers,
//! institutions, addresses, telephone numbers) and searches every element of every output for
//! them (any VR, private and nested included; pixel data excepted), case-insensitively, with
//! one Aho-Corasick automaton. Findings name the file and the tag path, never the value.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use dicom_core::{Tag, VR};
use rayon::prelude::*;

use crate::anonymize::private_creators;
use crate::batch::list_files;
use crate::dataset::{tag_str, tags, trim_padding, DataSet, DicomFile, Source, Value};
use crate::error::{Error, Result};
use crate::profile::{Action, CompiledProfile};
use crate::read::{is_dicomdir, read_path};

/// What a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FindingKind {
    /// (0012,0062) Patient Identity Removed is missing or not YES.
    IdentityNotRemoved,
    /// A private attribute the profile removes is present.
    PrivateAttribute,
    /// An attribute the profile removes is present.
    NotRemoved,
    /// An identifying value of an original was found.
    Leak,
    /// The output could not be read.
    Unreadable,
}

impl FindingKind {
    pub fn name(self) -> &'static str {
        match self {
            FindingKind::IdentityNotRemoved => "identity-not-removed",
            FindingKind::PrivateAttribute => "private-attribute",
            FindingKind::NotRemoved => "not-removed",
            FindingKind::Leak => "leak",
            FindingKind::Unreadable => "unreadable",
        }
    }
}

/// One finding: file, tag path, kind. Never a value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    pub file: PathBuf,
    pub path: String,
    pub kind: FindingKind,
}

/// Attributes whose values identify (besides every PN at any depth).
const IDENTIFYING: [Tag; 14] = [
    Tag(0x0010, 0x0020), // PatientID
    Tag(0x0010, 0x1000), // OtherPatientIDs
    Tag(0x0010, 0x0030), // PatientBirthDate
    Tag(0x0008, 0x0050), // AccessionNumber
    Tag(0x0008, 0x0080), // InstitutionName
    Tag(0x0008, 0x0081), // InstitutionAddress
    Tag(0x0010, 0x1040), // PatientAddress
    Tag(0x0010, 0x2154), // PatientTelephoneNumbers
    Tag(0x0010, 0x1002), // OtherPatientIDsSequence (its IDs come through PatientID)
    Tag(0x0038, 0x0010), // AdmissionID
    Tag(0x0040, 0x2016), // PlacerOrderNumberImagingServiceRequest
    Tag(0x0040, 0x2017), // FillerOrderNumberImagingServiceRequest
    Tag(0x0020, 0x0010), // StudyID
    Tag(0x0010, 0x0021), // IssuerOfPatientID
];

/// Our own dummy values: never a leak.
const DUMMIES: [&[u8]; 3] = [b"anonymized", b"19000101", b"000000"];

/// Split a value into the tokens that identify: the whole value and, for names, each component.
fn tokens(vr: VR, value: &[u8], out: &mut BTreeSet<Vec<u8>>) {
    let value = trim_padding(value);
    for v in value.split(|&b| b == b'\\') {
        let v = trim_padding(v);
        let mut push = |t: &[u8]| {
            let t = trim_padding(t);
            let lower = t.to_ascii_lowercase();
            let digits = t.iter().all(|b| !b.is_ascii_alphabetic());
            let long_enough = if digits { t.len() >= 5 } else { t.len() >= 3 };
            if long_enough && !DUMMIES.contains(&lower.as_slice()) {
                out.insert(lower);
            }
        };
        push(v);
        match vr {
            VR::PN => {
                for group in v.split(|&b| b == b'=') {
                    for part in group.split(|&b| b == b'^' || b == b' ') {
                        push(part);
                    }
                }
            }
            VR::DA if v.len() == 8 && v.iter().all(u8::is_ascii_digit) => {
                let (y, m, d) = (&v[0..4], &v[4..6], &v[6..8]);
                for sep in [b"-", b"/", b"."] {
                    push(&[y, &sep[..], m, &sep[..], d].concat());
                    push(&[d, &sep[..], m, &sep[..], y].concat());
                    push(&[m, &sep[..], d, &sep[..], y].concat());
                }
            }
            _ => {}
        }
    }
}

fn effective_vr(el: &crate::dataset::Element) -> VR {
    if el.vr == VR::UN {
        crate::dataset::dictionary_vr(el.tag).unwrap_or(VR::UN)
    } else {
        el.vr
    }
}

/// Gather the identifying values of a dataset, at any depth.
fn gather(ds: &DataSet, out: &mut BTreeSet<Vec<u8>>) {
    for el in &ds.elements {
        match &el.value {
            Value::Sequence(items) => items.iter().for_each(|i| gather(i, out)),
            Value::Primitive(_) => {
                let vr = effective_vr(el);
                if vr == VR::PN || IDENTIFYING.contains(&el.tag) {
                    if let Some(v) = el.inline_bytes() {
                        tokens(vr, v, out);
                    }
                }
            }
            Value::Fragments(_) => {}
        }
    }
}

struct Scan<'a> {
    file: &'a Path,
    source: &'a Source,
    profile: &'a CompiledProfile,
    needles: Option<&'a AhoCorasick>,
    findings: Vec<Finding>,
}

impl Scan<'_> {
    fn find(&mut self, path: String, kind: FindingKind) {
        self.findings.push(Finding {
            file: self.file.to_path_buf(),
            path,
            kind,
        });
    }

    fn dataset(&mut self, ds: &DataSet, prefix: &str) {
        let creators = private_creators(ds);
        for el in &ds.elements {
            let path = if prefix.is_empty() {
                tag_str(el.tag)
            } else {
                format!("{prefix} > {}", tag_str(el.tag))
            };
            let is_creator = el.tag.0 % 2 == 1 && (0x0010..=0x00FF).contains(&el.tag.1);
            let creator = if el.tag.0 % 2 == 1 && el.tag.1 >= 0x1000 {
                creators
                    .get(&(el.tag.0, (el.tag.1 >> 8) as u8))
                    .map(Vec::as_slice)
            } else {
                None
            };
            // a private creator is judged with its block's elements
            if !is_creator && self.profile.decide(el.tag, creator) == Some(Action::Remove) {
                let kind = if el.tag.0 % 2 == 1 {
                    FindingKind::PrivateAttribute
                } else {
                    FindingKind::NotRemoved
                };
                self.find(path.clone(), kind);
            }
            match &el.value {
                Value::Sequence(items) => {
                    for (i, item) in items.iter().enumerate() {
                        self.dataset(item, &format!("{path}[{i}]"));
                    }
                }
                Value::Primitive(data) if el.tag != tags::PIXEL_DATA => {
                    if let Some(ac) = self.needles {
                        if let Ok(bytes) = data.bytes(self.source) {
                            if ac.is_match(bytes.as_ref()) {
                                self.find(path, FindingKind::Leak);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// Check one output file.
fn verify_file(
    path: &Path,
    profile: &CompiledProfile,
    needles: Option<&AhoCorasick>,
) -> Vec<Finding> {
    let file: DicomFile = match read_path(path) {
        Ok(f) => f,
        Err(Error::NotDicom { .. }) => return Vec::new(),
        Err(_) => {
            return vec![Finding {
                file: path.to_path_buf(),
                path: String::new(),
                kind: FindingKind::Unreadable,
            }]
        }
    };
    if is_dicomdir(&file) {
        return Vec::new();
    }
    let mut scan = Scan {
        file: path,
        source: &file.source,
        profile,
        needles,
        findings: Vec::new(),
    };
    if file.dataset.text(tags::PATIENT_IDENTITY_REMOVED) != Some(b"YES") {
        scan.find(
            tag_str(tags::PATIENT_IDENTITY_REMOVED),
            FindingKind::IdentityNotRemoved,
        );
    }
    scan.dataset(&file.dataset, "");
    scan.findings
}

/// Scan every file under `out` (or one file). Returns the findings (sorted) and the number of
/// files checked.
pub fn verify(
    out: &Path,
    original: Option<&Path>,
    profile: &CompiledProfile,
    workers: usize,
) -> Result<(Vec<Finding>, usize)> {
    let list = |p: &Path| -> Result<Vec<PathBuf>> {
        if p.is_file() {
            Ok(vec![p.to_path_buf()])
        } else {
            list_files(p, true)
        }
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .build()
        .map_err(|e| Error::Io {
            name: "thread pool".into(),
            op: "start",
            source: std::io::Error::other(e.to_string()),
        })?;
    let outputs = list(out)?;
    let needles = match original {
        None => None,
        Some(orig) => {
            let originals = list(orig)?;
            let found: Mutex<BTreeSet<Vec<u8>>> = Mutex::new(BTreeSet::new());
            pool.install(|| {
                originals.par_iter().for_each(|p| {
                    if let Ok(f) = read_path(p) {
                        let mut local = BTreeSet::new();
                        gather(&f.dataset, &mut local);
                        found.lock().expect("not poisoned").extend(local);
                    }
                })
            });
            let patterns = found.into_inner().expect("not poisoned");
            if patterns.is_empty() {
                None
            } else {
                Some(
                    AhoCorasickBuilder::new()
                        .ascii_case_insensitive(true)
                        .match_kind(MatchKind::LeftmostFirst)
                        .build(&patterns)
                        .map_err(|e| Error::Value {
                            tag: "verify".into(),
                            problem: format!("cannot build the search: {e}"),
                        })?,
                )
            }
        }
    };
    let mut findings: Vec<Finding> = pool.install(|| {
        outputs
            .par_iter()
            .flat_map_iter(|p| verify_file(p, profile, needles.as_ref()))
            .collect()
    });
    findings.sort();
    Ok((findings, outputs.len()))
}
