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
use dicom_core::Tag;
use dicom_dictionary_std::tags;
use rayon::prelude::*;

use crate::anonymize::private_creators;
use crate::batch::{list_files, list_tree, thread_pool};
use crate::clean::{identifying_words, is_word, normalize_str, Charset};
use crate::dataset::{tag_str, value_vr, DataSet, DicomFile, Source, Value};
use crate::error::{Error, Result};
use crate::profile::{Action, CompiledProfile, Place};
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
    /// A temporary file of ours (`.dicomveil-*.part`): left by a run that was killed while
    /// writing (or a run writing there now). Its content is not checked.
    Leftover,
}

impl FindingKind {
    pub fn name(self) -> &'static str {
        match self {
            FindingKind::IdentityNotRemoved => "identity-not-removed",
            FindingKind::PrivateAttribute => "private-attribute",
            FindingKind::NotRemoved => "not-removed",
            FindingKind::Leak => "leak",
            FindingKind::Unreadable => "unreadable",
            FindingKind::Leftover => "leftover",
        }
    }
}

/// One finding: file, tag path, the tag itself, kind. Never a value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    pub file: PathBuf,
    /// Tags from the top level down, e.g. `(0008,1140)[0] > (0010,0010)`; empty when the
    /// whole file is concerned.
    pub path: String,
    /// The tag the finding is about (the last of the path), so callers need not parse it.
    pub tag: Option<Tag>,
    pub kind: FindingKind,
}

/// Is there a match in `text` (normalized) that stands as a whole word?
fn has_word_match(ac: &AhoCorasick, text: &str) -> bool {
    let word_before = |i: usize| text[..i].chars().next_back().is_some_and(is_word);
    let word_after = |i: usize| text[i..].chars().next().is_some_and(is_word);
    ac.find_overlapping_iter(text.as_bytes()).any(|m| {
        let (s, e) = (m.start(), m.end());
        if !text.is_char_boundary(s) || !text.is_char_boundary(e) {
            return false;
        }
        let token = &text[s..e];
        let starts_word = token.chars().next().is_some_and(is_word);
        let ends_word = token.chars().next_back().is_some_and(is_word);
        (!starts_word || !word_before(s)) && (!ends_word || !word_after(e))
    })
}

struct Scan<'a> {
    file: &'a Path,
    source: &'a Source,
    charset: Charset,
    profile: &'a CompiledProfile,
    needles: Option<&'a AhoCorasick>,
    findings: Vec<Finding>,
}

impl Scan<'_> {
    fn find(&mut self, path: String, tag: Tag, kind: FindingKind) {
        self.findings.push(Finding {
            file: self.file.to_path_buf(),
            path,
            tag: Some(tag),
            kind,
        });
    }

    /// `by_rules`: outside any sequence whose values were all given dummies or cleaned (D,
    /// C), where the attributes no rule names get the unlisted treatment.
    fn dataset(&mut self, ds: &DataSet, prefix: &str, place: Option<Place>, by_rules: bool) {
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
            // what the profile removes, resolved by the IOD as the anonymizer resolves it (a
            // required attribute is kept with a dummy or empty value, not removed)
            let decision = self.profile.decide_at(place, el.tag, creator);
            let attribute = decision.attribute;
            let action = match decision.action {
                None if by_rules => self.profile.unlisted_action(
                    el.tag,
                    value_vr(el),
                    attribute.and_then(|a| a.req).map(|r| r.effective()),
                    attribute.is_some_and(|a| a.terms.is_some()),
                ),
                action => action,
            };
            if !is_creator && action == Some(Action::Remove) {
                let kind = if el.tag.0 % 2 == 1 {
                    FindingKind::PrivateAttribute
                } else {
                    FindingKind::NotRemoved
                };
                self.find(path.clone(), el.tag, kind);
            }
            match &el.value {
                Value::Sequence(items) => {
                    for (i, item) in items.iter().enumerate() {
                        let inner = place.and_then(|p| p.items(decision.attribute));
                        let by_rules = by_rules
                            && !matches!(
                                action,
                                Some(Action::Dummy | Action::Placeholder | Action::Clean)
                            );
                        self.dataset(item, &format!("{path}[{i}]"), inner, by_rules);
                    }
                }
                Value::Primitive(data) if el.tag != tags::PIXEL_DATA => {
                    if let Some(ac) = self.needles {
                        if let Ok(bytes) = data.bytes(self.source) {
                            let text = normalize_str(&self.charset.decode(&bytes));
                            if has_word_match(ac, &text) {
                                self.find(path, el.tag, FindingKind::Leak);
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
                tag: None,
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
        charset: Charset::of(&file.dataset),
        profile,
        needles,
        findings: Vec::new(),
    };
    if file.dataset.text(tags::PATIENT_IDENTITY_REMOVED) != Some(b"YES") {
        scan.find(
            tag_str(tags::PATIENT_IDENTITY_REMOVED),
            tags::PATIENT_IDENTITY_REMOVED,
            FindingKind::IdentityNotRemoved,
        );
    }
    let place = profile.place_of(&file);
    scan.dataset(&file.dataset, "", place, true);
    scan.findings
}

/// Scan every file under `out` (or one file). Returns the findings (sorted) and the number of
/// files checked. Temporary files of ours found under `out` are findings too (`leftover`).
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
    let pool = thread_pool(workers)?;
    let (outputs, leftovers) = if out.is_file() {
        (vec![out.to_path_buf()], Vec::new())
    } else {
        let listing = list_tree(out, true)?;
        (listing.files, listing.leftovers)
    };
    let needles = match original {
        None => None,
        Some(orig) => {
            let originals = list(orig)?;
            let found: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
            pool.install(|| {
                originals.par_iter().for_each(|p| {
                    if let Ok(f) = read_path(p) {
                        let words = identifying_words(&f.dataset);
                        found.lock().expect("not poisoned").extend(words);
                    }
                })
            });
            let patterns = found.into_inner().expect("not poisoned");
            if patterns.is_empty() {
                None
            } else {
                Some(
                    AhoCorasickBuilder::new()
                        .match_kind(MatchKind::Standard)
                        .build(&patterns)
                        .map_err(|e| Error::Internal {
                            name: "verify".into(),
                            what: format!("cannot build the search: {e}"),
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
    findings.extend(leftovers.iter().map(|p| Finding {
        file: p.clone(),
        path: String::new(),
        tag: None,
        kind: FindingKind::Leftover,
    }));
    findings.sort();
    Ok((findings, outputs.len() + leftovers.len()))
}
