//! Decide and apply: walk a file's dataset, at every depth, and apply the compiled profile.

use std::collections::HashMap;
use std::sync::Arc;

use dicom_core::{Tag, VR};

use crate::action::dummy;
use crate::dataset::{
    dictionary_vr, tags, trim_padding, Data, DataSet, DicomFile, Element, Source, Value,
};
use crate::error::{Error, Result};
use crate::profile::{Action, CompiledProfile};
use crate::read::is_dicomdir;
use crate::uid::UidMapper;

/// How the elements of a dataset are decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// By the profile.
    Profile,
    /// Inside an X/Z/U* sequence: by the profile, and every UID no rule names is replaced.
    MapUids,
    /// Inside a D sequence: identifying values replaced by dummies (see `dummy_in_sequence`).
    Dummy,
}

/// Counts of what was done, by action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub removed: u64,
    pub zeroed: u64,
    pub dummied: u64,
    pub kept: u64,
    pub cleaned: u64,
    pub uids_replaced: u64,
}

/// Applies a compiled profile with a keyed UID mapping. Cheap to clone; share across threads.
#[derive(Debug, Clone)]
pub struct Anonymizer {
    pub profile: Arc<CompiledProfile>,
    pub uids: UidMapper,
    /// When set, replaces PatientName at every level after the profile is applied.
    pub patient_name: Option<Vec<u8>>,
    /// When set, replaces PatientID at every level after the profile is applied.
    pub patient_id: Option<Vec<u8>>,
}

const PATIENT_NAME: Tag = Tag(0x0010, 0x0010);
const PATIENT_ID: Tag = Tag(0x0010, 0x0020);

impl Anonymizer {
    pub fn new(profile: Arc<CompiledProfile>, uids: UidMapper) -> Self {
        Anonymizer {
            profile,
            uids,
            patient_name: None,
            patient_id: None,
        }
    }

    /// De-identify a file in place.
    pub fn anonymize(&self, file: &mut DicomFile) -> Result<Counts> {
        if is_dicomdir(file) {
            return Err(Error::Unsupported {
                name: file.name.clone(),
                what: "is a DICOMDIR (a media directory, not an instance): its records hold \
                       byte offsets that a rewrite invalidates; it is not de-identified"
                    .into(),
            });
        }
        let mut walker = Walker {
            anonymizer: self,
            source: &file.source,
            counts: Counts::default(),
        };
        let mut dataset = std::mem::take(&mut file.dataset);
        let result = walker.walk(&mut dataset, Mode::Profile, true);
        let counts = walker.counts;
        file.dataset = dataset;
        result.map_err(|e| e.with_name(&file.name))?;
        // group 0002 is written anew; keep only what the writer needs from the input's meta
        file.meta
            .elements
            .retain(|e| e.tag == tags::MEDIA_STORAGE_SOP_CLASS_UID);
        self.add_markers(&mut file.dataset);
        Ok(counts)
    }

    fn add_markers(&self, ds: &mut DataSet) {
        let p = &self.profile;
        ds.put(Element::text(
            tags::PATIENT_IDENTITY_REMOVED,
            VR::CS,
            &["YES"],
        ));
        let method: Vec<&str> = p.method.iter().map(String::as_str).collect();
        if !method.is_empty() {
            ds.put(Element::text(
                tags::DEIDENTIFICATION_METHOD,
                VR::LO,
                &method,
            ));
        }
        let items = p
            .codes
            .iter()
            .map(|code| DataSet {
                elements: vec![
                    Element::text(tags::CODE_VALUE, VR::SH, &[&code.value]),
                    Element::text(tags::CODING_SCHEME_DESIGNATOR, VR::SH, &["DCM"]),
                    Element::text(tags::CODE_MEANING, VR::LO, &[&code.meaning]),
                ],
            })
            .collect::<Vec<_>>();
        if !items.is_empty() {
            ds.put(Element::new(
                tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
                VR::SQ,
                Value::Sequence(items),
            ));
        }
        ds.put(Element::text(
            tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED,
            VR::CS,
            &[p.temporal.code()],
        ));
    }
}

struct Walker<'a> {
    anonymizer: &'a Anonymizer,
    source: &'a Source,
    counts: Counts,
}

/// The VR that decides what a value is: the dictionary's when the element's is UN.
fn effective_vr(el: &Element) -> VR {
    if el.vr == VR::UN {
        dictionary_vr(el.tag).unwrap_or(VR::UN)
    } else {
        el.vr
    }
}

/// Overlay Data (60xx,3000), for the even groups 6000-601E.
fn is_overlay_data(tag: Tag) -> bool {
    tag.0 & 0xFF01 == 0x6000 && tag.1 == 0x3000
}

/// Inside a sequence whose action is D, what happens to an element no rule names: values that
/// can carry identity (text, names, dates, bytes) get dummies, UIDs are mapped, and what is
/// structure or measurement (code strings, numbers, nested sequences) is kept, so the result
/// stays conformant (e.g. an SR's value and relationship types survive, its text does not).
fn dummy_in_sequence(vr: VR) -> Action {
    match vr {
        VR::UI => Action::ReplaceUid,
        VR::SQ
        | VR::CS
        | VR::DS
        | VR::IS
        | VR::US
        | VR::SS
        | VR::UL
        | VR::SL
        | VR::FL
        | VR::FD
        | VR::SV
        | VR::UV
        | VR::AT
        | VR::OF
        | VR::OD
        | VR::OL
        | VR::OV => Action::Keep,
        _ => Action::Dummy,
    }
}

/// The private creators of a dataset's blocks: (group, block byte) -> creator (trimmed).
pub(crate) fn private_creators(ds: &DataSet) -> HashMap<(u16, u8), Vec<u8>> {
    ds.elements
        .iter()
        .filter(|e| e.tag.0 % 2 == 1 && (0x0010..=0x00FF).contains(&e.tag.1))
        .filter_map(|e| {
            let v = e.inline_bytes()?;
            Some(((e.tag.0, e.tag.1 as u8), trim_padding(v).to_vec()))
        })
        .collect()
}

impl Walker<'_> {
    fn walk(&mut self, ds: &mut DataSet, mode: Mode, top: bool) -> Result<()> {
        let profile = &*self.anonymizer.profile;
        let had_name = top || ds.get(PATIENT_NAME).is_some();
        let had_id = top || ds.get(PATIENT_ID).is_some();
        let creators = if profile.has_private_rules() {
            private_creators(ds)
        } else {
            HashMap::new()
        };
        let elements = std::mem::take(&mut ds.elements);
        let mut kept = Vec::with_capacity(elements.len());
        let mut overlays_removed: Vec<u16> = Vec::new();
        for el in elements {
            let tag = el.tag;
            // group lengths are not written outside the meta; a stray meta element in the
            // dataset and trailing padding (it may hold leftovers of earlier data) are dropped
            if tag.1 == 0x0000 || tag.0 == 0x0002 || tag == tags::DATASET_TRAILING_PADDING {
                self.counts.removed += 1;
                continue;
            }
            let creator = if tag.0 % 2 == 1 && tag.1 >= 0x1000 {
                creators
                    .get(&(tag.0, (tag.1 >> 8) as u8))
                    .map(Vec::as_slice)
            } else {
                None
            };
            let rule = profile.decide(tag, creator);
            let vr = effective_vr(&el);
            let action = match mode {
                Mode::Profile => rule.unwrap_or(Action::Keep),
                Mode::MapUids => match rule {
                    Some(a) => a,
                    None if vr == VR::UI => Action::ReplaceUid,
                    None => Action::Keep,
                },
                Mode::Dummy => match rule {
                    Some(Action::Keep) | None => dummy_in_sequence(vr),
                    Some(a) => a,
                },
            };
            if action == Action::Remove && is_overlay_data(tag) {
                overlays_removed.push(tag.0);
            }
            if let Some(el) = self.apply(el, vr, action, mode)? {
                kept.push(el);
            }
        }
        // an Overlay Plane without its Overlay Data (Type 1) is not conformant: the rest of
        // the group goes with it
        if !overlays_removed.is_empty() {
            let before = kept.len();
            kept.retain(|e| !overlays_removed.contains(&e.tag.0));
            self.counts.removed += (before - kept.len()) as u64;
        }
        ds.elements = kept;
        let a = self.anonymizer;
        // PatientName and PatientID set on the profile replace whatever the profile did, at
        // the top level and wherever the input had them
        if let (Some(name), true) = (&a.patient_name, had_name) {
            ds.put(Element::bytes(PATIENT_NAME, VR::PN, name.clone()));
        }
        if let (Some(id), true) = (&a.patient_id, had_id) {
            ds.put(Element::bytes(PATIENT_ID, VR::LO, id.clone()));
        }
        Ok(())
    }

    fn apply(
        &mut self,
        mut el: Element,
        vr: VR,
        action: Action,
        mode: Mode,
    ) -> Result<Option<Element>> {
        match action {
            Action::Remove => {
                self.counts.removed += 1;
                return Ok(None);
            }
            Action::Zero => {
                self.counts.zeroed += 1;
                el.value = match el.value {
                    Value::Sequence(_) => Value::Sequence(Vec::new()),
                    _ => Value::Primitive(Data::Inline(Vec::new())),
                };
            }
            Action::Keep => {
                self.counts.kept += 1;
                if let Value::Sequence(items) = &mut el.value {
                    for item in items {
                        self.walk(item, mode, false)?;
                    }
                }
            }
            Action::Dummy | Action::Clean => {
                if action == Action::Clean {
                    self.counts.cleaned += 1;
                } else {
                    self.counts.dummied += 1;
                }
                match &mut el.value {
                    Value::Sequence(items) => {
                        for item in items {
                            self.walk(item, Mode::Dummy, false)?;
                        }
                    }
                    _ => match dummy(vr) {
                        Some(d) => el.value = Value::Primitive(Data::Inline(d.to_vec())),
                        None => self.map_uids(&mut el)?,
                    },
                }
            }
            Action::ReplaceUid | Action::KeepReplaceUids => match &mut el.value {
                Value::Sequence(items) => {
                    self.counts.kept += 1;
                    for item in items {
                        self.walk(item, Mode::MapUids, false)?;
                    }
                }
                _ if vr == VR::UI || action == Action::ReplaceUid => self.map_uids(&mut el)?,
                _ => self.counts.kept += 1,
            },
        }
        Ok(Some(el))
    }

    fn map_uids(&mut self, el: &mut Element) -> Result<()> {
        self.counts.uids_replaced += 1;
        let new = match &el.value {
            Value::Primitive(data) => {
                let bytes = data.bytes(self.source).map_err(|e| Error::Io {
                    name: String::new(),
                    op: "read a value",
                    source: e,
                })?;
                self.anonymizer.uids.map_value(&bytes)
            }
            _ => Vec::new(),
        };
        el.value = Value::Primitive(Data::Inline(new));
        Ok(())
    }
}
