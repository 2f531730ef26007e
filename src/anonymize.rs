//! Decide and apply: walk a file's dataset, at every depth, and apply the compiled profile.

use std::collections::HashMap;
use std::sync::Arc;

use dicom_core::{Tag, VR};
use dicom_dictionary_std::{tags, uids};

use crate::action::{dummy, dummy_cs, dummy_document};
use crate::clean::{clean_text, safe_private, shift_da, shift_dt, Charset, Identity, Keyed};
use crate::dataset::{trim_padding, value_vr, Data, DataSet, DicomFile, Element, Source, Value};
use crate::error::{Error, Result};
use crate::iod::{Attribute, Terms};
use crate::profile::{is_class_uid, Action, CompiledProfile, Place, Temporal};
use crate::read::is_dicomdir;
use crate::textscan::{self, TextDates};
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
    /// Inside a C sequence: identifying values cleaned (see `clean_in_sequence`).
    Clean,
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

/// What happened to one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub counts: Counts,
    /// Flags raised (e.g. `burned-in-annotation`).
    pub flags: Vec<&'static str>,
    /// What Clean Pixel Data did to the pixels ("cleaned by rule 2 (...)", "no rule
    /// matched", ...); `None` when it does not apply.
    pub pixels: Option<String>,
}

/// A region to blank given by the caller (the frame API): a rectangle of one frame, or of
/// every frame when `frame` is `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameBox {
    pub frame: Option<u32>,
    pub rect: crate::pixels::Rect,
}

/// Finds text burned into a file's pixels (OCR, outside the engine): the boxes to blank.
/// Called from the worker threads of a run, once per file in its scope.
pub trait TextFinder: Send + Sync {
    /// The boxes of text found in `file`'s pixels, and a note for the report (which boxes
    /// were found, never the text). An error refuses the file.
    fn find(&self, file: &DicomFile) -> Result<TextFound>;
}

/// What a [`TextFinder`] found in one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextFound {
    pub boxes: Vec<FrameBox>,
    pub note: String,
}

/// Redaction of the text found in the pixels (`pixel_text="redact"`): the finder, and which
/// files it looks at.
#[derive(Clone)]
pub struct PixelText {
    pub finder: Arc<dyn TextFinder>,
    /// Every file with pixel data (true), or only those that may carry burned-in annotation
    /// ([`may_have_burned_in_annotation`]).
    pub all: bool,
}

impl std::fmt::Debug for PixelText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PixelText")
            .field("all", &self.all)
            .finish_non_exhaustive()
    }
}

/// Does the file hold pixel data (integer, float or double float)?
pub fn has_pixel_data(ds: &DataSet) -> bool {
    [
        tags::PIXEL_DATA,
        tags::FLOAT_PIXEL_DATA,
        tags::DOUBLE_FLOAT_PIXEL_DATA,
    ]
    .iter()
    .any(|&t| ds.get(t).is_some())
}

/// The flag of a file a pixel rule matched whose regions all miss its image: nothing was
/// blanked, and the burned-in policy applies.
pub const FLAG_PIXEL_RULE_MISSED: &str = "pixel-rule-missed";

/// What Clean Pixel Data will do to a file, decided on its original header.
struct PixelPlan {
    edit: Option<crate::pixels::PixelEdit>,
    /// Whether regions are blanked (the file is cleaned).
    cleaned: bool,
    /// Overlay groups whose planes are in the pixel bits, cleared: removed with them.
    overlay_groups: Vec<u16>,
    note: Option<String>,
    flags: Vec<&'static str>,
    /// Compressed frames to redact block by block: the layout and the rectangles.
    jpeg: Option<(crate::pixels::Layout, crate::encapsulated::Plan)>,
    /// Compressed frames to decode, edit and write again losslessly: how, the edit (of the
    /// decoded layout), and the source's lossy compression attributes.
    decoded: Option<(
        crate::codecs::Decoded,
        crate::pixels::PixelEdit,
        Vec<Element>,
    )>,
}

/// What to do with a file that may carry burned-in annotation (text in its pixels, which no
/// profile of attributes can remove).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BurnedIn {
    /// Process it and flag it.
    #[default]
    Warn,
    /// Refuse it.
    Refuse,
    /// Process it without a flag.
    Allow,
}

/// The CID 7050 code of the Clean Pixel Data Option, added to (0012,0064) of a file whose
/// pixels were cleaned.
pub const CLEAN_PIXEL_DATA_CODE: (&str, &str) = ("113101", "Clean Pixel Data Option");

/// The flag of a file that may carry burned-in annotation.
pub const FLAG_BURNED_IN: &str = "burned-in-annotation";

/// A replacement for PatientName or PatientID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replacement {
    /// This value.
    Value(Vec<u8>),
    /// A keyed pseudonym of the original value: one patient keeps one pseudonym.
    Pseudonym,
}

/// Applies a compiled profile with keyed replacements. Cheap to clone; share across threads.
#[derive(Debug, Clone)]
pub struct Anonymizer {
    pub profile: Arc<CompiledProfile>,
    pub uids: UidMapper,
    pub keyed: Keyed,
    /// When set, replaces PatientName at every level after the profile is applied.
    pub patient_name: Option<Replacement>,
    /// When set, replaces PatientID at every level after the profile is applied.
    pub patient_id: Option<Replacement>,
    pub burned_in: BurnedIn,
    /// Text found in the pixels is blanked (OCR); `None`: not looked for.
    pub pixel_text: Option<PixelText>,
}

/// SOP classes whose images commonly carry burned-in text: secondary capture, ultrasound,
/// visible light (photographs, video, screen captures).
const BURNED_IN_CLASSES: [&[u8]; 13] = [
    uids::SECONDARY_CAPTURE_IMAGE_STORAGE.as_bytes(),
    uids::MULTI_FRAME_SINGLE_BIT_SECONDARY_CAPTURE_IMAGE_STORAGE.as_bytes(),
    uids::MULTI_FRAME_GRAYSCALE_BYTE_SECONDARY_CAPTURE_IMAGE_STORAGE.as_bytes(),
    uids::MULTI_FRAME_GRAYSCALE_WORD_SECONDARY_CAPTURE_IMAGE_STORAGE.as_bytes(),
    uids::MULTI_FRAME_TRUE_COLOR_SECONDARY_CAPTURE_IMAGE_STORAGE.as_bytes(),
    uids::ULTRASOUND_IMAGE_STORAGE.as_bytes(),
    uids::ENHANCED_US_VOLUME_STORAGE.as_bytes(),
    uids::ULTRASOUND_MULTI_FRAME_IMAGE_STORAGE.as_bytes(),
    uids::VIDEO_ENDOSCOPIC_IMAGE_STORAGE.as_bytes(),
    uids::VIDEO_MICROSCOPIC_IMAGE_STORAGE.as_bytes(),
    uids::VL_PHOTOGRAPHIC_IMAGE_STORAGE.as_bytes(),
    uids::VIDEO_PHOTOGRAPHIC_IMAGE_STORAGE.as_bytes(),
    uids::VL_ENDOSCOPIC_IMAGE_STORAGE.as_bytes(),
];

/// Might this file carry burned-in annotation?
pub fn may_have_burned_in_annotation(ds: &DataSet) -> bool {
    let burned = ds.text(tags::BURNED_IN_ANNOTATION);
    if burned.is_some_and(|v| v.eq_ignore_ascii_case(b"YES")) {
        return true;
    }
    burned_in_class(ds) && !burned.is_some_and(|v| v.eq_ignore_ascii_case(b"NO"))
}

/// Is the file of a SOP class whose images commonly carry burned-in text (secondary
/// capture, ultrasound, visible light), whatever its BurnedInAnnotation says?
pub fn burned_in_class(ds: &DataSet) -> bool {
    ds.text(tags::SOP_CLASS_UID)
        .is_some_and(|c| BURNED_IN_CLASSES.contains(&c))
}

impl Anonymizer {
    /// An anonymizer for a profile and a secret key.
    pub fn new(profile: Arc<CompiledProfile>, key: &[u8]) -> Self {
        Anonymizer {
            profile,
            uids: UidMapper::new(key),
            keyed: Keyed::new(key),
            patient_name: None,
            patient_id: None,
            burned_in: BurnedIn::default(),
            pixel_text: None,
        }
    }

    /// De-identify a file in place.
    pub fn anonymize(&self, file: &mut DicomFile) -> Result<Outcome> {
        self.anonymize_with(file, &[])
    }

    /// The text the finder (if any) finds in `file`, when the file is in its scope; its
    /// error refuses the file.
    fn find_text(&self, file: &DicomFile) -> Result<Option<TextFound>> {
        let Some(pixel_text) = &self.pixel_text else {
            return Ok(None);
        };
        let ds = &file.dataset;
        if !has_pixel_data(ds) || !(pixel_text.all || may_have_burned_in_annotation(ds)) {
            return Ok(None);
        }
        pixel_text
            .finder
            .find(file)
            .map(Some)
            .map_err(|e| e.with_name(&file.name))
    }

    /// Decide what Clean Pixel Data does to `file` (on its original header): the first pixel
    /// rule that matches (under [`CompiledProfile::clean_pixels`]) and the caller's `boxes`
    /// name regions to blank; overlay planes in the pixel bits are cleared whenever Overlay
    /// Data is not kept. A file whose pixels must be cleaned and cannot be is refused.
    fn plan_pixels(&self, file: &DicomFile, boxes: &[FrameBox]) -> Result<PixelPlan> {
        use crate::pixels::{area_spans, embedded_overlays, Area, Layout, PixelEdit, Rect};
        use crate::pixrules::Region;
        let mut plan = PixelPlan {
            edit: None,
            cleaned: false,
            overlay_groups: Vec::new(),
            note: None,
            flags: Vec::new(),
            jpeg: None,
            decoded: None,
        };
        let refuse = |problem: String| Error::PixelData {
            name: file.name.clone(),
            problem,
        };
        let matched = if self.profile.clean_pixels {
            self.profile.pixel_rules.first_match(file)
        } else {
            None
        };
        if self.profile.clean_pixels && matched.is_none() && boxes.is_empty() {
            plan.note = Some("no rule matched".into());
        }
        let has_pixels = [
            tags::PIXEL_DATA,
            tags::FLOAT_PIXEL_DATA,
            tags::DOUBLE_FLOAT_PIXEL_DATA,
        ]
        .iter()
        .any(|&t| file.dataset.get(t).is_some());
        if matched.is_none() && boxes.is_empty() {
            // only overlay planes in the pixel bits, in native data whose layout we know
            let overlay_removed = !matches!(
                self.profile.decide(Tag(0x6000, 0x3000), None),
                None | Some(Action::Keep)
            );
            if !has_pixels || !(overlay_removed || self.profile.clean_pixels) {
                return Ok(plan);
            }
            let Ok(layout) = Layout::of(file) else {
                return Ok(plan);
            };
            let overlays = embedded_overlays(file, &layout);
            if overlays.is_empty() {
                return Ok(plan);
            }
            let mut edit = PixelEdit::new(file, layout);
            let positions: Vec<u32> = overlays.iter().map(|&(_, p)| p).collect();
            edit.clear_bits(&positions);
            plan.overlay_groups = overlays.iter().map(|&(g, _)| g).collect();
            plan.note = Some(match plan.note.take() {
                Some(n) => format!("{n}; overlay planes in the pixel bits cleared"),
                None => "overlay planes in the pixel bits cleared".into(),
            });
            plan.edit = Some(edit);
            return Ok(plan);
        }
        if !has_pixels {
            let what = match matched {
                Some((i, rule)) => format!("pixel rule {} ({}) matched", i + 1, rule.name),
                None => "boxes were given".into(),
            };
            plan.note = Some(format!("{what}, but the file has no pixel data"));
            return Ok(plan);
        }
        let uid = file.transfer_syntax.uid.as_str();
        let compressed = file.transfer_syntax.encapsulated;
        // compressed frames redacted block by block in the stream (else decoded)
        let blockwise = compressed && crate::encapsulated::supported(uid);
        let decoded = match crate::codecs::family(uid) {
            Some(_) if compressed && !blockwise => {
                Some(crate::codecs::plan(file).map_err(|p| refuse(format!("it {p}")))?)
            }
            _ if compressed && !blockwise => {
                return Err(refuse(format!(
                    "it has compressed pixel data (transfer syntax {uid}), which Clean Pixel \
                     Data cannot rewrite (JPEG Baseline, 8-bit JPEG Extended, JPEG Lossless, \
                     JPEG-LS, JPEG 2000 and RLE Lossless can be)"
                )));
            }
            _ => None,
        };
        let layout = match &decoded {
            Some(d) => Ok(d.layout.clone()),
            None if compressed => Layout::header(file),
            None => Layout::of(file),
        }
        .map_err(|p| refuse(format!("it {p}")))?;
        let size = format!("{}x{}", layout.cols, layout.rows);
        let mut common: Vec<crate::pixels::Span> = Vec::new();
        let mut per_frame: std::collections::BTreeMap<u32, Vec<crate::pixels::Span>> =
            Default::default();
        let mut missed = Vec::new();
        let mut blanked = 0usize;
        if let Some((_, rule)) = matched {
            for region in &rule.regions {
                let area = match *region {
                    Region::Rect { x, y, w, h } => Area::Rect(Rect { x, y, w, h }),
                    Region::WholeFrame => Area::WholeFrame,
                    Region::OutsideUsRegions => Area::OutsideUsRegions,
                };
                match area_spans(&area, file, &layout) {
                    Some(spans) => {
                        blanked += usize::from(!spans.is_empty());
                        common.extend(spans);
                    }
                    None => missed.push(match area {
                        Area::Rect(r) => format!("region {r} misses the {size} image"),
                        _ => "a region misses the image".into(),
                    }),
                }
            }
        }
        for b in boxes {
            match area_spans(&Area::Rect(b.rect), file, &layout) {
                Some(spans) => {
                    blanked += 1;
                    match b.frame {
                        Some(f) if f < layout.frames => {
                            per_frame.entry(f).or_default().extend(spans)
                        }
                        Some(f) => missed.push(format!(
                            "box {} names frame {f} of {}",
                            b.rect, layout.frames
                        )),
                        None => common.extend(spans),
                    }
                }
                None => missed.push(format!("box {} misses the {size} image", b.rect)),
            }
        }
        let overlays = if blockwise {
            Vec::new()
        } else {
            embedded_overlays(file, &layout)
        };
        let mut edit = PixelEdit::new(file, layout.clone());
        if blockwise {
            let merge = |mut s: Vec<crate::pixels::Span>| {
                s.sort_unstable();
                crate::encapsulated::rects_of(&s)
            };
            plan.jpeg = Some((
                layout.clone(),
                crate::encapsulated::Plan {
                    common: merge(common),
                    frames: per_frame.into_iter().map(|(f, s)| (f, merge(s))).collect(),
                },
            ));
        } else {
            edit.blank_all(common);
            for (f, spans) in per_frame {
                edit.blank_frame(f, spans);
            }
        }
        if !overlays.is_empty() {
            let positions: Vec<u32> = overlays.iter().map(|&(_, p)| p).collect();
            edit.clear_bits(&positions);
            plan.overlay_groups = overlays.iter().map(|&(g, _)| g).collect();
        }
        let mut note = match matched {
            Some((i, rule)) if rule.name.is_empty() => format!("cleaned by rule {}", i + 1),
            Some((i, rule)) => format!("cleaned by rule {} ({})", i + 1, rule.name),
            None => String::from("cleaned"),
        };
        if !boxes.is_empty() {
            note.push_str(&format!(
                "{} {} box(es)",
                if matched.is_some() { " and" } else { " by" },
                boxes.len()
            ));
        }
        if blanked == 0 {
            note = match matched {
                Some((i, rule)) if rule.regions.is_empty() && boxes.is_empty() => {
                    format!("rule {} matched; it names no region", i + 1)
                }
                Some((i, _)) => format!("rule {} matched but blanked nothing", i + 1),
                None => "the boxes blanked nothing".into(),
            };
            plan.flags.push(FLAG_PIXEL_RULE_MISSED);
        }
        for m in &missed {
            note.push_str("; ");
            note.push_str(m);
        }
        if !overlays.is_empty() {
            note.push_str("; overlay planes in the pixel bits cleared");
        }
        plan.cleaned = blanked > 0;
        if !plan.cleaned {
            plan.jpeg = None;
        }
        plan.note = Some(note);
        if edit.is_empty() {
            return Ok(plan);
        }
        match decoded {
            Some(d) => {
                let lossy = crate::codecs::lossy_attributes(file);
                plan.decoded = Some((d, edit, lossy));
            }
            None => plan.edit = Some(edit),
        }
        Ok(plan)
    }

    /// De-identify a file in place, blanking `boxes` of its pixels besides what the pixel
    /// rules name (the frame API's way back).
    pub fn anonymize_with(&self, file: &mut DicomFile, boxes: &[FrameBox]) -> Result<Outcome> {
        if is_dicomdir(file) {
            return Err(Error::Unsupported {
                name: file.name.clone(),
                what: "is a DICOMDIR (a media directory, not an instance): its records hold \
                       byte offsets that a rewrite invalidates; it is not de-identified"
                    .into(),
            });
        }
        let found = self.find_text(file)?;
        let all_boxes;
        let boxes = match &found {
            Some(found) if !found.boxes.is_empty() => {
                all_boxes = [boxes, &found.boxes].concat();
                &all_boxes[..]
            }
            _ => boxes,
        };
        let mut pixels = self.plan_pixels(file, boxes)?;
        if let Some(found) = found {
            pixels.note = Some(match pixels.note.take() {
                Some(n) => format!("{}; {n}", found.note),
                None => found.note,
            });
        }
        let mut flags = pixels.flags.clone();
        if !pixels.cleaned
            && self.burned_in != BurnedIn::Allow
            && may_have_burned_in_annotation(&file.dataset)
        {
            if self.burned_in == BurnedIn::Refuse {
                return Err(Error::BurnedIn {
                    name: file.name.clone(),
                });
            }
            flags.push(FLAG_BURNED_IN);
        }
        let ds = &file.dataset;
        let original_id = ds.text(tags::PATIENT_ID).unwrap_or_default().to_vec();
        let original_name = ds.text(tags::PATIENT_NAME).unwrap_or_default().to_vec();
        // the patient's date offset: by PatientID, or PatientName when there is no ID
        let patient_key = if original_id.is_empty() {
            &original_name
        } else {
            &original_id
        };
        let replacement = |r: &Option<Replacement>, purpose: &[u8], original: &[u8], name: bool| {
            r.as_ref().map(|r| match r {
                Replacement::Value(v) => v.clone(),
                Replacement::Pseudonym => {
                    let p = self.keyed.pseudonym(purpose, original);
                    if name {
                        format!("ANONYMOUS^{p}").into_bytes()
                    } else {
                        p.into_bytes()
                    }
                }
            })
        };
        let mut walker = Walker {
            scope: Vec::new(),
            anonymizer: self,
            source: &file.source,
            counts: Counts::default(),
            identity: if self.profile.uses_clean() {
                Identity::gather(ds)
            } else {
                Identity::default()
            },
            charset: Charset::of(ds),
            date_offset: self.keyed.date_offset_days(patient_key),
            new_name: replacement(
                &self.patient_name,
                b"dicomveil/patient-name",
                &original_name,
                true,
            ),
            new_id: replacement(
                &self.patient_id,
                b"dicomveil/patient-id",
                patient_key,
                false,
            ),
            document_mime: ds
                .text(tags::MIME_TYPE_OF_ENCAPSULATED_DOCUMENT)
                .unwrap_or_default()
                .to_vec(),
            document_length: None,
        };
        let place = self.profile.place_of(file);
        let mut dataset = std::mem::take(&mut file.dataset);
        let result = walker.walk(&mut dataset, Mode::Profile, true, place);
        let counts = walker.counts;
        file.dataset = dataset;
        result.map_err(|e| e.with_name(&file.name))?;
        // a document replaced by a dummy one: its Encapsulated Document Length follows (the
        // length without the padding byte, PS3.3 C.24.2)
        if let Some(len) = walker.document_length {
            if file
                .dataset
                .get(tags::ENCAPSULATED_DOCUMENT_LENGTH)
                .is_some()
            {
                let len = u32::try_from(len).unwrap_or(u32::MAX);
                let bytes = if file.transfer_syntax.big_endian {
                    len.to_be_bytes()
                } else {
                    len.to_le_bytes()
                };
                file.dataset.put(Element::bytes(
                    tags::ENCAPSULATED_DOCUMENT_LENGTH,
                    VR::UL,
                    bytes.to_vec(),
                ));
            }
        }
        // group 0002 is written anew; keep only what the writer needs from the input's meta
        file.meta
            .elements
            .retain(|e| e.tag == tags::MEDIA_STORAGE_SOP_CLASS_UID);
        if let Some((layout, plan)) = &pixels.jpeg {
            let done = crate::encapsulated::redact(file, layout, plan).map_err(|problem| {
                Error::PixelData {
                    name: file.name.clone(),
                    problem: format!("it {problem}"),
                }
            })?;
            if let Some(note) = &mut pixels.note {
                note.push_str(&format!(
                    "; JPEG redacted block by block: {} of {} blocks replaced in {} frame(s)",
                    done.mcus_replaced, done.mcus_total, done.frames
                ));
                if done.segments_dropped > 0 {
                    note.push_str(&format!(
                        ", {} header segment(s) that may hold text dropped",
                        done.segments_dropped
                    ));
                }
            }
        }
        if let Some((decoded, edit, lossy)) = &pixels.decoded {
            let source = file.transfer_syntax.uid.clone();
            let done = crate::codecs::rewrite(file, decoded, edit).map_err(|problem| {
                Error::PixelData {
                    name: file.name.clone(),
                    problem: format!("it {problem}"),
                }
            })?;
            if decoded.lossy {
                crate::codecs::mark_lossy(file, lossy, decoded.lossy_method);
            }
            if let Some(note) = &mut pixels.note {
                note.push_str(&format!(
                    "; {} frame(s) of transfer syntax {source} decoded and written {}",
                    done.frames,
                    match done.output {
                        crate::codecs::Output::Rle => "as RLE Lossless again".to_string(),
                        crate::codecs::Output::JpegLs => format!(
                            "as JPEG-LS Lossless{}",
                            if decoded.lossy { " (lossy source)" } else { "" }
                        ),
                        crate::codecs::Output::Native => format!(
                            "as Explicit VR Little Endian ({}{})",
                            decoded.layout.photometric_name,
                            if decoded.lossy { ", lossy source" } else { "" }
                        ),
                    }
                ));
            }
        }
        if pixels.jpeg.is_none()
            && pixels.decoded.is_none()
            && self.profile.identity_removed
            && file.transfer_syntax.encapsulated
            && crate::encapsulated::jpeg_family(&file.transfer_syntax.uid)
        {
            // Exif, XMP and comments in the streams' headers can name the patient: gone with
            // any profile at least as strong as the Basic one, pixel rules or not
            let frames = crate::pixels::Layout::header(file).map_or(1, |l| l.frames);
            let dropped =
                crate::encapsulated::drop_header_text(file, frames).map_err(|problem| {
                    Error::PixelData {
                        name: file.name.clone(),
                        problem: format!("it {problem}"),
                    }
                })?;
            if dropped > 0 {
                let what = format!(
                    "{dropped} JPEG header segment(s) that may hold text dropped (APPn, COM)"
                );
                pixels.note = Some(match pixels.note.take() {
                    Some(n) => format!("{n}; {what}"),
                    None => what,
                });
            }
        }
        self.add_markers(&mut file.dataset, pixels.cleaned);
        if let Some(edit) = pixels.edit {
            crate::pixels::attach(file, edit).map_err(|problem| Error::PixelData {
                name: file.name.clone(),
                problem: format!("it {problem}"),
            })?;
        }
        if !pixels.overlay_groups.is_empty() {
            // the overlay's description goes with its planes
            file.dataset
                .elements
                .retain(|e| !pixels.overlay_groups.contains(&e.tag.0));
        }
        if pixels.cleaned {
            // the text in the pixels is gone (as far as the rule's regions reach: the site's
            // responsibility)
            file.dataset
                .put(Element::text(tags::BURNED_IN_ANNOTATION, VR::CS, &["NO"]));
        }
        Ok(Outcome {
            counts,
            flags,
            pixels: pixels.note,
        })
    }

    /// The de-identification markers. A file de-identified before keeps the record of it: the
    /// earlier (0012,0063) values and (0012,0064) items stay and ours are added (a value or
    /// code already there is not repeated); (0012,0062) says YES when this profile is at least
    /// as strong as the Basic profile or the file said YES already; (0028,0303) keeps the
    /// stronger of the earlier and ours (REMOVED > MODIFIED > UNMODIFIED).
    fn add_markers(&self, ds: &mut DataSet, pixels_cleaned: bool) {
        let p = &self.profile;
        let earlier_removed = ds
            .text(tags::PATIENT_IDENTITY_REMOVED)
            .is_some_and(|v| trim_padding(v).eq_ignore_ascii_case(b"YES"));
        let removed = p.identity_removed || earlier_removed;
        ds.put(Element::text(
            tags::PATIENT_IDENTITY_REMOVED,
            VR::CS,
            &[if removed { "YES" } else { "NO" }],
        ));
        let mut method: Vec<String> = ds
            .text(tags::DEIDENTIFICATION_METHOD)
            .map(|v| {
                String::from_utf8_lossy(trim_padding(v))
                    .split('\\')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let clean_pixel = CLEAN_PIXEL_DATA_CODE.1.to_string();
        for value in p
            .method
            .iter()
            .chain(pixels_cleaned.then_some(&clean_pixel))
        {
            if !method.contains(value) {
                method.push(value.clone());
            }
        }
        if !method.is_empty() {
            let values: Vec<&str> = method.iter().map(String::as_str).collect();
            ds.put(Element::text(
                tags::DEIDENTIFICATION_METHOD,
                VR::LO,
                &values,
            ));
        }
        let mut items = match ds.get(tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE) {
            Some(Element {
                value: Value::Sequence(items),
                ..
            }) => items.clone(),
            _ => Vec::new(),
        };
        let has_code = |items: &[DataSet], value: &str| {
            items.iter().any(|item| {
                item.text(tags::CODE_VALUE)
                    .is_some_and(|v| trim_padding(v) == value.as_bytes())
                    && item
                        .text(tags::CODING_SCHEME_DESIGNATOR)
                        .is_some_and(|v| trim_padding(v) == b"DCM")
            })
        };
        let clean_pixel = crate::profile::MethodCode {
            value: CLEAN_PIXEL_DATA_CODE.0.into(),
            meaning: CLEAN_PIXEL_DATA_CODE.1.into(),
        };
        let codes = p.codes.iter().chain(pixels_cleaned.then_some(&clean_pixel));
        for code in codes {
            if has_code(&items, &code.value) {
                continue;
            }
            items.push(DataSet {
                elements: vec![
                    Element::text(tags::CODE_VALUE, VR::SH, &[&code.value]),
                    Element::text(tags::CODING_SCHEME_DESIGNATOR, VR::SH, &["DCM"]),
                    Element::text(tags::CODE_MEANING, VR::LO, &[&code.meaning]),
                ],
            });
        }
        if !items.is_empty() {
            ds.put(Element::new(
                tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
                VR::SQ,
                Value::Sequence(items),
            ));
        }
        let rank = |code: &[u8]| match trim_padding(code) {
            b"REMOVED" => 2,
            b"MODIFIED" => 1,
            _ => 0,
        };
        let ours = p.temporal.code();
        let temporal = match ds.text(tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED) {
            Some(earlier) if rank(earlier) > rank(ours.as_bytes()) => {
                String::from_utf8_lossy(trim_padding(earlier)).into_owned()
            }
            _ => ours.to_string(),
        };
        ds.put(Element::text(
            tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED,
            VR::CS,
            &[&temporal],
        ));
    }
}

/// What value actions read: the original elements of the level being walked, the keys.
struct ScriptContext<'w, 'a> {
    walker: &'w Walker<'a>,
    /// The element the rule is for, its value still the original one (`None`: absent).
    this: Option<&'w Element>,
}

impl crate::script::Context for ScriptContext<'_, '_> {
    fn text(&self, tag: Tag) -> Option<String> {
        let el = match self.this {
            Some(this) if this.tag == tag => this,
            _ => self.walker.scope.iter().find(|e| e.tag == tag)?,
        };
        match &el.value {
            Value::Primitive(data) => {
                let bytes = data.bytes(self.walker.source).ok()?;
                let text = self.walker.charset.decode(trim_padding(&bytes));
                Some(text.trim_end_matches(['\0', ' ']).to_string())
            }
            _ => Some(String::new()),
        }
    }

    fn digest(&self, purpose: &[u8], value: &str) -> u128 {
        let keyed = &self.walker.anonymizer.keyed;
        let half = |n: u8| {
            let p = [purpose, &[b'/', n]].concat();
            u64::from_str_radix(&keyed.pseudonym(&p, value.as_bytes()), 16).unwrap_or(0)
        };
        (u128::from(half(b'1')) << 64) | u128::from(half(b'2'))
    }

    fn map_uid(&self, uid: &str) -> String {
        String::from_utf8_lossy(&self.walker.anonymizer.uids.map(uid.as_bytes())).into_owned()
    }

    fn date_offset(&self) -> u64 {
        self.walker.date_offset
    }

    fn lookup(&self, keytype: &str, key: &str) -> Option<String> {
        self.walker
            .anonymizer
            .profile
            .lookup
            .as_ref()?
            .get(keytype, key)
    }
}

struct Walker<'a> {
    /// The original elements of the level being walked, for value actions (empty when the
    /// profile has none).
    scope: Vec<Element>,
    anonymizer: &'a Anonymizer,
    source: &'a Source,
    counts: Counts,
    /// The file's identifying values, for C on text.
    identity: Identity,
    charset: Charset,
    /// Days this patient's dates move back, for C on dates.
    date_offset: u64,
    new_name: Option<Vec<u8>>,
    new_id: Option<Vec<u8>>,
    /// The MIME Type of Encapsulated Document, for the dummy of the document.
    document_mime: Vec<u8>,
    /// The length of the dummy document written, when one was.
    document_length: Option<usize>,
}

/// Sequences of coded concepts (standard vocabulary, not identity): Concept Name Code,
/// Concept Code, Measurement Units Code, Purpose of Reference Code.
const CODED_CONCEPTS: [Tag; 4] = [
    tags::CONCEPT_NAME_CODE_SEQUENCE,
    tags::CONCEPT_CODE_SEQUENCE,
    tags::MEASUREMENT_UNITS_CODE_SEQUENCE,
    tags::PURPOSE_OF_REFERENCE_CODE_SEQUENCE,
];

/// Overlay Data (60xx,3000), for the even groups 6000-601E.
fn is_overlay_data(tag: Tag) -> bool {
    tag.0 & 0xFF01 == 0x6000 && tag.1 == 0x3000
}

/// Curve (50xx) and overlay (60xx) groups: their binary data is graphics, kept by C.
fn is_graphics_group(tag: Tag) -> bool {
    matches!(tag.0 & 0xFF01, 0x5000 | 0x6000)
}

fn is_private_creator(tag: Tag) -> bool {
    tag.0 % 2 == 1 && (0x0010..=0x00FF).contains(&tag.1)
}

/// A UID attribute no rule names, inside a sequence whose UIDs are replaced: replaced, unless
/// the attribute names a kind of thing, not an instance (the list of
/// `dicomveil/data/class_uids.csv`: SOP classes, transfer syntaxes, coding schemes, ...): a
/// vendor's private SOP class UID identifies no patient, and replaced it would no longer say
/// what the referenced object is. (UIDs under the DICOM root are never replaced.)
fn unnamed_uid(tag: Tag) -> Action {
    if is_class_uid(tag) {
        Action::Keep
    } else {
        Action::ReplaceUid
    }
}

/// Inside a sequence whose action is D, what happens to an element no rule names: values that
/// can carry identity (text, names, dates, bytes) get dummies, UIDs are mapped, and what is
/// structure or measurement (code strings, numbers, nested sequences) is kept, so the result
/// stays conformant (e.g. an SR's value and relationship types survive, its text does not).
fn dummy_in_sequence(tag: Tag, vr: VR) -> Action {
    match vr {
        VR::UI => unnamed_uid(tag),
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

/// Inside a sequence whose action is C, what happens to an element no rule names: text is
/// cleaned, dates shifted, UIDs mapped, person names replaced; the rest kept.
fn clean_in_sequence(tag: Tag, vr: VR) -> Action {
    match vr {
        VR::UI => unnamed_uid(tag),
        VR::PN => Action::Dummy,
        VR::DA | VR::DT | VR::LO | VR::LT | VR::SH | VR::ST | VR::UT | VR::UC => Action::Clean,
        _ => Action::Keep,
    }
}

/// The private blocks (group, block byte) that hold at least one element.
fn private_blocks(elements: &[Element]) -> std::collections::HashSet<(u16, u8)> {
    elements
        .iter()
        .filter(|e| e.tag.0 % 2 == 1 && e.tag.1 >= 0x1000)
        .map(|e| (e.tag.0, (e.tag.1 >> 8) as u8))
        .collect()
}

/// The private creators of a dataset's blocks: (group, block byte) -> creator (trimmed).
pub(crate) fn private_creators(ds: &DataSet) -> HashMap<(u16, u8), Vec<u8>> {
    ds.elements
        .iter()
        .filter(|e| is_private_creator(e.tag))
        .filter_map(|e| {
            let v = e.inline_bytes()?;
            Some(((e.tag.0, e.tag.1 as u8), trim_padding(v).to_vec()))
        })
        .collect()
}

impl Walker<'_> {
    /// Decide and apply every element of `ds`, found at `place` in the object's IOD (`None`:
    /// unknown, so decided by the table alone).
    fn walk(
        &mut self,
        ds: &mut DataSet,
        mode: Mode,
        top: bool,
        place: Option<Place>,
    ) -> Result<()> {
        let profile = &*self.anonymizer.profile;
        let had_name = top || ds.get(tags::PATIENT_NAME).is_some();
        let had_id = top || ds.get(tags::PATIENT_ID).is_some();
        let creators = private_creators(ds);
        let blocks_in = private_blocks(&ds.elements);
        let elements = std::mem::take(&mut ds.elements);
        // value actions read the original values of the elements they name at this level
        // (their own: from the element itself); @always() needs to know what is absent
        let scope = if profile.has_exprs {
            elements
                .iter()
                .filter(|e| {
                    profile.referenced.binary_search(&e.tag).is_ok()
                        || (top && profile.always.iter().any(|&(t, _)| t == e.tag))
                })
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        let outer_scope = std::mem::replace(&mut self.scope, scope);
        let mut kept = Vec::with_capacity(elements.len());
        let mut overlays_removed: Vec<u16> = Vec::new();
        let mut pending_creators: Vec<(Element, Action)> = Vec::new();
        for el in elements {
            let tag = el.tag;
            // group lengths are not written outside the meta; a stray meta element in the
            // dataset and trailing padding (it may hold leftovers of earlier data) are dropped
            if tag.1 == 0x0000 || tag.0 == 0x0002 || tag == tags::DATA_SET_TRAILING_PADDING {
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
            let decision = profile.decide_at(place, tag, creator);
            let vr = value_vr(&el);
            // what no rule names: the unlisted attributes' treatment (inside D and C sequences
            // their own, below)
            let rule = match decision.action {
                None if matches!(mode, Mode::Profile | Mode::MapUids) => {
                    let attribute = decision.attribute;
                    profile.unlisted_action(
                        tag,
                        vr,
                        attribute.and_then(|a| a.req).map(|r| r.effective()),
                        attribute.is_some_and(|a| a.terms.is_some()),
                    )
                }
                action => action,
            };
            let mut action = match mode {
                Mode::Profile => rule.unwrap_or(Action::Keep),
                Mode::MapUids => match rule {
                    Some(a) => a,
                    None if vr == VR::UI => unnamed_uid(tag),
                    None => Action::Keep,
                },
                // inside a D or C sequence, what no rule names is made dummy or cleaned; an
                // explicit K (from an option, such as Retain UIDs or Retain Full Dates, or a
                // custom rule) is kept, or an SR would lose what the option keeps elsewhere
                Mode::Dummy => rule.unwrap_or_else(|| dummy_in_sequence(tag, vr)),
                Mode::Clean => rule.unwrap_or_else(|| clean_in_sequence(tag, vr)),
            };
            // C on a private attribute (Retain Safe Private): kept when PS3.15 Table E.3.10-1
            // lists it with its creator, whatever block the file uses; removed otherwise
            if action == Action::Clean && tag.0 % 2 == 1 {
                action = if is_private_creator(tag) {
                    Action::Keep
                } else {
                    match creator {
                        Some(c) if safe_private().contains(&(tag.0, c.to_vec(), tag.1 as u8)) => {
                            Action::Keep
                        }
                        _ => Action::Remove,
                    }
                };
            }
            if action == Action::Remove && is_overlay_data(tag) {
                overlays_removed.push(tag.0);
            }
            // a private creator is decided with its block, below
            if is_private_creator(tag) {
                pending_creators.push((el, action));
                continue;
            }
            if let Some(el) = self.apply(el, vr, action, mode, place, decision.attribute)? {
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
        // a private creator stays exactly while its block keeps an element (PS3.5 7.8.1: a kept
        // private attribute needs its creator, an emptied block does not); the creator of a
        // block that was empty in the input follows its own rule
        let blocks_out = private_blocks(&kept);
        let mut creators_kept = false;
        for (el, action) in pending_creators {
            let block = (el.tag.0, el.tag.1 as u8);
            let keep = blocks_out.contains(&block)
                || (!blocks_in.contains(&block) && action != Action::Remove);
            if keep {
                self.counts.kept += 1;
                kept.push(el);
                creators_kept = true;
            } else {
                self.counts.removed += 1;
            }
        }
        // value actions with @always() create their attribute where the input has none (at
        // the top level, as CTP does)
        let mut created = false;
        if top {
            for &(tag, id) in &profile.always {
                if self.scope.iter().any(|e| e.tag == tag) {
                    continue;
                }
                let vr = crate::dataset::dictionary_vr(tag).unwrap_or(VR::SH);
                let mut el = Element::new(tag, vr, Value::Primitive(Data::Inline(Vec::new())));
                if vr == VR::SQ {
                    continue;
                }
                if self.compute(&mut el, vr, id, true)? {
                    kept.push(el);
                    created = true;
                }
            }
        }
        if creators_kept || created {
            kept.sort_by_key(|e| e.tag);
        }
        self.scope = outer_scope;
        ds.elements = kept;
        // PatientName and PatientID set on the profile replace whatever the profile did, at
        // the top level and wherever the input had them
        if let (Some(name), true) = (&self.new_name, had_name) {
            ds.put(Element::bytes(tags::PATIENT_NAME, VR::PN, name.clone()));
        }
        if let (Some(id), true) = (&self.new_id, had_id) {
            ds.put(Element::bytes(tags::PATIENT_ID, VR::LO, id.clone()));
        }
        Ok(())
    }

    fn apply(
        &mut self,
        mut el: Element,
        vr: VR,
        action: Action,
        mode: Mode,
        place: Option<Place>,
        attribute: Option<Attribute>,
    ) -> Result<Option<Element>> {
        // where the items of a sequence stand in the IOD, and the terms of a code string
        let inner = place.and_then(|p| p.items(attribute));
        let terms = attribute.and_then(|a| a.terms);
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
                    // a coded concept says what was observed, not who: inside a D sequence
                    // (an SR's content under the Basic profile) it keeps its meaning (UIDs of
                    // coding schemes or contexts are still mapped)
                    let mode = if mode == Mode::Dummy && CODED_CONCEPTS.contains(&el.tag) {
                        Mode::MapUids
                    } else {
                        mode
                    };
                    for item in items {
                        self.walk(item, mode, false, inner)?;
                    }
                }
            }
            Action::Dummy | Action::Placeholder => {
                self.counts.dummied += 1;
                match &mut el.value {
                    Value::Sequence(items) => {
                        // a required sequence the rule would remove keeps one item
                        if action == Action::Placeholder {
                            items.truncate(1);
                        }
                        for item in items {
                            self.walk(item, Mode::Dummy, false, inner)?;
                        }
                    }
                    _ => self.set_dummy(&mut el, vr, terms)?,
                }
            }
            Action::Clean => {
                self.counts.cleaned += 1;
                self.clean(&mut el, vr, inner, terms)?;
            }
            Action::Compute(id) => {
                if !self.compute(&mut el, vr, id, false)? {
                    self.counts.removed += 1;
                    return Ok(None);
                }
                if let Value::Sequence(items) = &mut el.value {
                    for item in items {
                        self.walk(item, mode, false, inner)?;
                    }
                }
            }
            Action::ReplaceUid | Action::KeepReplaceUids => match &mut el.value {
                Value::Sequence(items) => {
                    self.counts.kept += 1;
                    for item in items {
                        self.walk(item, Mode::MapUids, false, inner)?;
                    }
                }
                _ if vr == VR::UI || action == Action::ReplaceUid => self.map_uids(&mut el)?,
                _ => self.counts.kept += 1,
            },
        }
        Ok(Some(el))
    }

    /// A value action on `el` (present, or `absent`: created empty for `@always()`): `false`
    /// when the element goes (or, absent, is not created: removed or kept). The new value is checked against the VR and encoded in the file's
    /// character set; a value that does not fit refuses the file, as do `@skip()`,
    /// `@quarantine()` and a lookup with no key.
    fn compute(
        &mut self,
        el: &mut Element,
        vr: VR,
        id: crate::script::ExprId,
        absent: bool,
    ) -> Result<bool> {
        use crate::script::{evaluate, get, Outcome};
        let tag = el.tag;
        let refuse = |problem: String| Error::Refused {
            name: String::new(),
            problem,
        };
        let place = format!("the rule for ({:04X},{:04X})", tag.0, tag.1);
        let outcome = {
            let ctx = ScriptContext {
                walker: self,
                this: (!absent).then_some(&*el),
            };
            evaluate(get(id), tag, &ctx).map_err(|r| refuse(format!("{place}: {}", r.0)))?
        };
        let value = match outcome {
            Outcome::Remove => return Ok(false),
            Outcome::Keep if absent => return Ok(false),
            Outcome::Keep => {
                self.counts.kept += 1;
                return Ok(true);
            }
            Outcome::Set(v) => v,
        };
        if let Value::Sequence(items) = &mut el.value {
            if !value.trim().is_empty() {
                return Err(refuse(format!("{place} gives a text value to a sequence")));
            }
            items.clear();
            self.counts.zeroed += 1;
            return Ok(true);
        }
        crate::script::check_vr(vr, &value)
            .map_err(|p| refuse(format!("{place} gives {p} (VR {vr:?})")))?;
        let mut bytes = self.charset.encode(&value).ok_or_else(|| {
            refuse(format!(
                "{place} gives text the file's character set cannot hold"
            ))
        })?;
        if bytes.len() % 2 == 1 {
            bytes.push(crate::action::padding(vr));
        }
        if bytes.is_empty() {
            self.counts.zeroed += 1;
        } else {
            self.counts.dummied += 1;
        }
        el.value = Value::Primitive(Data::Inline(bytes));
        Ok(true)
    }

    /// D on a value: the VR's dummy, or for a code string with terms where it stands, a term
    /// (see `dummy_cs`), or for an encapsulated document, a document of its type.
    fn set_dummy(&mut self, el: &mut Element, vr: VR, terms: Option<Terms>) -> Result<()> {
        if let (VR::CS, Some(terms)) = (vr, terms) {
            let value = self.value_bytes(el)?.unwrap_or_default();
            if let Some(v) = dummy_cs(&value, terms) {
                el.value = Value::Primitive(Data::Inline(v));
                return Ok(());
            }
        }
        if el.tag == tags::ENCAPSULATED_DOCUMENT {
            if let Some(doc) = dummy_document(&self.document_mime) {
                self.document_length = Some(doc.len());
                el.value = Value::Primitive(Data::Inline(doc));
                return Ok(());
            }
        }
        match dummy(vr) {
            Some(d) => el.value = Value::Primitive(Data::Inline(d.to_vec())),
            None => self.map_uids(el)?,
        }
        Ok(())
    }

    fn value_bytes(&self, el: &Element) -> Result<Option<Vec<u8>>> {
        match &el.value {
            Value::Primitive(data) => data
                .bytes(self.source)
                .map(|b| Some(b.into_owned()))
                .map_err(|e| Error::Io {
                    name: String::new(),
                    op: "read a value",
                    source: e,
                }),
            _ => Ok(None),
        }
    }

    /// C: what "clean" means for each kind of value.
    fn clean(
        &mut self,
        el: &mut Element,
        vr: VR,
        inner: Option<Place>,
        terms: Option<Terms>,
    ) -> Result<()> {
        if let Value::Sequence(items) = &mut el.value {
            for item in items {
                self.walk(item, Mode::Clean, false, inner)?;
            }
            return Ok(());
        }
        if matches!(el.value, Value::Fragments(_)) {
            return Ok(());
        }
        let Some(bytes) = self.value_bytes(el)? else {
            return Ok(());
        };
        let new = match vr {
            VR::DA => shift_da(&bytes, self.date_offset),
            VR::DT => shift_dt(&bytes, self.date_offset),
            // dates move by whole days: times stay true
            VR::TM => return Ok(()),
            VR::UI => return self.map_uids(el),
            VR::AE => {
                let v = trim_padding(&bytes);
                if v.is_empty() {
                    return Ok(());
                }
                Some(
                    self.anonymizer
                        .keyed
                        .pseudonym(b"dicomveil/ae", v)
                        .into_bytes(),
                )
            }
            VR::CS | VR::LO | VR::LT | VR::PN | VR::SH | VR::ST | VR::UC | VR::UT | VR::UR => {
                let scan = textscan::scans(el.tag).then(|| self.text_dates());
                match clean_text(&self.identity, scan, &self.charset, vr, &bytes) {
                    None => return Ok(()),
                    some => some,
                }
            }
            VR::OB | VR::OW | VR::UN if is_graphics_group(el.tag) => return Ok(()),
            VR::OB | VR::OW | VR::UN | VR::AS => None,
            // numbers identify no one
            _ => return Ok(()),
        };
        match new {
            // a code string cleaned would hold "[REMOVED]", no valid CS: a dummy instead
            Some(_) if vr == VR::CS => self.set_dummy(el, vr, terms)?,
            Some(v) => el.value = Value::Primitive(Data::Inline(v)),
            None => self.set_dummy(el, vr, terms)?,
        }
        Ok(())
    }

    /// Dates written in cleaned text follow the date attributes: shifted by the same offset
    /// when the profile shifts them, kept when it keeps them, removed otherwise.
    fn text_dates(&self) -> TextDates {
        match self.anonymizer.profile.temporal {
            Temporal::Unmodified => TextDates::Keep,
            Temporal::Modified => TextDates::Shift(self.date_offset),
            Temporal::Removed => TextDates::Remove,
        }
    }

    fn map_uids(&mut self, el: &mut Element) -> Result<()> {
        self.counts.uids_replaced += 1;
        let new = match self.value_bytes(el)? {
            Some(bytes) => self.anonymizer.uids.map_value(&bytes),
            None => Vec::new(),
        };
        el.value = Value::Primitive(Data::Inline(new));
        Ok(())
    }
}
