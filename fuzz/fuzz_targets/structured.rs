//! Fuzz target: well-formed DICOM built from a structured description (`arbitrary`), so that
//! the engine's decisions are explored, not only the reader's error paths: the tags each rule
//! and special case is about (names, dates, UIDs, references, private blocks and their
//! creators, safe private attributes, overlays, curves, character sets, burned-in classes,
//! group lengths, trailing padding, stray meta elements), with any VR, nested sequences, UN
//! sequences (CP-246), fragments, in every transfer syntax, with or without meta and preamble.
//! Then the same pipeline as the other targets (`../pipeline.rs`).
#![no_main]

use std::io::Write;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[path = "../pipeline.rs"]
mod pipeline;

/// Tags with something special about them.
const TAGS: &[(u16, u16)] = &[
    (0x0008, 0x0005), // SpecificCharacterSet
    (0x0008, 0x0016), // SOPClassUID
    (0x0008, 0x0018), // SOPInstanceUID
    (0x0008, 0x0020), // StudyDate (Z)
    (0x0008, 0x0023), // ContentDate (Z/D)
    (0x0008, 0x002A), // AcquisitionDateTime (DT)
    (0x0008, 0x0030), // StudyTime
    (0x0008, 0x0050), // AccessionNumber
    (0x0008, 0x0055), // StationAETitle (AE)
    (0x0008, 0x0080), // InstitutionName (D)
    (0x0008, 0x0081), // InstitutionAddress
    (0x0008, 0x0090), // ReferringPhysicianName
    (0x0008, 0x0100), // CodeValue
    (0x0008, 0x0104), // CodeMeaning
    (0x0008, 0x1030), // StudyDescription (C with CLEAN_DESC)
    (0x0008, 0x103E), // SeriesDescription
    (0x0008, 0x1110), // ReferencedStudySequence (X/Z)
    (0x0008, 0x1140), // ReferencedImageSequence (X/Z/U*)
    (0x0008, 0x1150), // ReferencedSOPClassUID
    (0x0008, 0x1155), // ReferencedSOPInstanceUID
    (0x0008, 0x2112), // SourceImageSequence
    (0x0008, 0x0000), // a group length
    (0x0010, 0x0010), // PatientName
    (0x0010, 0x0020), // PatientID
    (0x0010, 0x0030), // PatientBirthDate
    (0x0010, 0x1010), // PatientAge (AS)
    (0x0010, 0x21B0), // AdditionalPatientHistory
    (0x0018, 0x1030), // ProtocolName
    (0x0020, 0x000D), // StudyInstanceUID
    (0x0020, 0x000E), // SeriesInstanceUID
    (0x0020, 0x0052), // FrameOfReferenceUID
    (0x0020, 0x4000), // ImageComments
    (0x0028, 0x0301), // BurnedInAnnotation
    (0x0040, 0x0275), // RequestAttributesSequence (X)
    (0x0040, 0xA043), // ConceptNameCodeSequence
    (0x0040, 0xA073), // VerifyingObserverSequence (D)
    (0x0040, 0xA123), // PersonName
    (0x0040, 0xA160), // TextValue
    (0x0040, 0xA730), // ContentSequence
    (0x0004, 0x1220), // DirectoryRecordSequence (a DICOMDIR)
    (0x0002, 0x0010), // TransferSyntaxUID, out of place
    (0x5000, 0x3000), // CurveData
    (0x6000, 0x0010), // OverlayRows
    (0x6000, 0x3000), // OverlayData
    (0x6000, 0x4000), // OverlayComments
    (0x6000, 0x1500), // OverlayLabel
    (0x6002, 0x3000), // another overlay's data
    (0x7FE0, 0x0010), // PixelData
    (0xFFFC, 0xFFFC), // DataSetTrailingPadding
];

/// Private creators: some on PS3.15's safe list, some not.
const CREATORS: &[&[u8]] = &[
    b"GEMS_ACQU_01",
    b"ELSCINT1",
    b"Philips PET Private Group",
    b"SIEMENS CSA HEADER",
    b"ACME 1.0",
    b"",
];

const CHARSETS: &[&[u8]] = &[
    b"ISO_IR 100",
    b"ISO_IR 192",
    b"GB18030",
    b"ISO_IR 144",
    b"\\ISO 2022 IR 87",
    b"ISO 2022 IR 13\\ISO 2022 IR 87",
    b"ISO 2022 IR 6\\ISO 2022 IR 149",
    b"ISO_IR 13",
    b"NONSENSE",
];

/// Text worth having: names (several scripts and encodings), dates, UIDs of the DICOM root and
/// others, things the cleaner produces.
const TEXTS: &[&[u8]] = &[
    b"DOE^JOHN",
    b"Doe John",
    b"John Doe was seen on 1970-02-15",
    b"PID-123",
    b"19700215",
    b"20240229120000.5+0100",
    b"1.2.840.10008.5.1.4.1.1.7",
    b"1.2.826.0.1.3680043.8.498.1",
    b"1.2.3\\4.5.6",
    b"M\xfcller^Zo\xeb",
    b"\xc3\x96rsted^Hans",
    b"Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B=",
    b"\x1b$B;3ED$N8!::\x1b(B",
    b"Wang^XiaoDong=\xcd\xf5^\xd0\xa1\xb6\xab=",
    b"[REMOVED]",
    b"YES",
    b"NO",
    b"ANONYMIZED",
    b"045Y",
    b"   ",
];

const VRS: &[&[u8; 2]] = &[
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT", b"OB",
    b"OD", b"OF", b"OL", b"OV", b"OW", b"PN", b"SH", b"SL", b"SQ", b"SS", b"ST", b"SV", b"TM",
    b"UC", b"UI", b"UL", b"UN", b"UR", b"US", b"UT", b"UV",
];

const SYNTAXES: &[&str] = &[
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.2",
    "1.2.840.10008.1.2.1.99",
    "1.2.840.10008.1.2.5",
    "1.2.840.10008.1.2.4.50",
];

#[derive(Arbitrary, Debug)]
enum TagChoice {
    Known(u8),
    /// A private attribute: odd group (from a few), block, element byte.
    Private(u8, u8, u8),
    /// A private creator of a block, with one of the creators.
    Creator(u8, u8, u8),
    Any(u16, u16),
}

#[derive(Arbitrary, Debug)]
enum ValueChoice {
    Text(u8),
    Texts(u8, u8),
    Charset(u8),
    Bytes(Vec<u8>),
    /// Items of a sequence (nested elements).
    Items(Vec<Vec<Elem>>),
    /// The same, written as UN of undefined length (CP-246).
    UnItems(Vec<Vec<Elem>>),
    Fragments(Vec<Vec<u8>>),
}

#[derive(Arbitrary, Debug)]
struct Elem {
    tag: TagChoice,
    /// Index into VRS; out of range: the dictionary's (the default a writer would choose).
    vr: u8,
    value: ValueChoice,
}

#[derive(Arbitrary, Debug)]
struct File {
    syntax: u8,
    meta: bool,
    preamble: bool,
    elements: Vec<Elem>,
}

const PRIVATE_GROUPS: &[u16] = &[0x0009, 0x0019, 0x00E1, 0x01F1, 0x7053, 0x0029];

impl TagChoice {
    fn tag(&self) -> (u16, u16) {
        match *self {
            TagChoice::Known(i) => TAGS[i as usize % TAGS.len()],
            TagChoice::Private(g, b, e) => (
                PRIVATE_GROUPS[g as usize % PRIVATE_GROUPS.len()],
                (0x10 + (b % 4) as u16) << 8 | e as u16,
            ),
            TagChoice::Creator(g, b, _) => (
                PRIVATE_GROUPS[g as usize % PRIVATE_GROUPS.len()],
                0x10 + (b % 4) as u16,
            ),
            TagChoice::Any(g, e) => (g, e),
        }
    }
}

struct Enc {
    explicit: bool,
    big: bool,
}

impl Enc {
    fn u16(&self, v: u16) -> [u8; 2] {
        if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn u32(&self, v: u32) -> [u8; 4] {
        if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn header(&self, out: &mut Vec<u8>, tag: (u16, u16), vr: &[u8; 2], len: u32) {
        out.extend(self.u16(tag.0));
        out.extend(self.u16(tag.1));
        if !self.explicit {
            out.extend(self.u32(len));
            return;
        }
        out.extend(vr);
        let long = matches!(
            vr,
            b"OB"
                | b"OD"
                | b"OF"
                | b"OL"
                | b"OV"
                | b"OW"
                | b"SQ"
                | b"UC"
                | b"UN"
                | b"UR"
                | b"UT"
                | b"SV"
                | b"UV"
        );
        if long || len > 0xFFFF {
            if !long {
                // too long for its VR's 16-bit length: UN, as a writer must
                out.truncate(out.len() - 2);
                out.extend(b"UN");
            }
            out.extend([0, 0]);
            out.extend(self.u32(len));
        } else {
            out.extend(self.u16(len as u16));
        }
    }
    fn item(&self, out: &mut Vec<u8>, tag: u16, len: u32) {
        out.extend(self.u16(0xFFFE));
        out.extend(self.u16(tag));
        out.extend(self.u32(len));
    }
}

const UNDEFINED: u32 = 0xFFFF_FFFF;

fn dictionary_vr(tag: (u16, u16)) -> &'static [u8; 2] {
    match tag {
        (0x0008, 0x0005) | (0x0008, 0x0100) | (0x0028, 0x0301) => b"CS",
        (0x0008, 0x0020) | (0x0008, 0x0023) | (0x0010, 0x0030) => b"DA",
        (0x0008, 0x002A) => b"DT",
        (0x0008, 0x0030) => b"TM",
        (0x0008, 0x0055) => b"AE",
        (0x0008, 0x0090) | (0x0010, 0x0010) | (0x0040, 0xA123) => b"PN",
        (0x0010, 0x1010) => b"AS",
        (0x0010, 0x21B0) | (0x6000, 0x4000) | (0x0020, 0x4000) => b"LT",
        (0x0040, 0xA160) => b"UT",
        (0x0008, 0x0000) => b"UL",
        (0x6000, 0x0010) => b"US",
        (0x5000, 0x3000) | (0x6000, 0x3000) | (0x6002, 0x3000) | (0x7FE0, 0x0010) => b"OW",
        (0xFFFC, 0xFFFC) => b"OB",
        (0x0008, 0x0016)
        | (0x0008, 0x0018)
        | (0x0008, 0x1150)
        | (0x0008, 0x1155)
        | (0x0020, 0x000D)
        | (0x0020, 0x000E)
        | (0x0020, 0x0052)
        | (0x0002, 0x0010) => b"UI",
        (0x0008, 0x1110)
        | (0x0008, 0x1140)
        | (0x0008, 0x2112)
        | (0x0040, 0x0275)
        | (0x0040, 0xA043)
        | (0x0040, 0xA073)
        | (0x0040, 0xA730)
        | (0x0004, 0x1220) => b"SQ",
        (g, e) if g % 2 == 1 && (0x10..=0xFF).contains(&e) => b"LO",
        (g, _) if g % 2 == 1 => b"UN",
        _ => b"LO",
    }
}

/// Encode a data set. `depth` bounds nesting (the reader refuses past 64 levels anyway).
fn encode(enc: &Enc, elements: &[Elem], depth: usize, out: &mut Vec<u8>) {
    let mut sorted: Vec<&Elem> = elements.iter().collect();
    sorted.sort_by_key(|e| e.tag.tag());
    sorted.dedup_by_key(|e| e.tag.tag());
    for el in sorted {
        let tag = el.tag.tag();
        let vr = VRS
            .get(el.vr as usize)
            .copied()
            .unwrap_or(dictionary_vr(tag));
        match &el.value {
            ValueChoice::Items(items) | ValueChoice::UnItems(items) if depth < 6 => {
                let un = matches!(el.value, ValueChoice::UnItems(_));
                // CP-246: the content of a UN element is implicit VR little endian
                let inner = if un {
                    Enc {
                        explicit: false,
                        big: false,
                    }
                } else {
                    Enc {
                        explicit: enc.explicit,
                        big: enc.big,
                    }
                };
                enc.header(out, tag, if un { b"UN" } else { b"SQ" }, UNDEFINED);
                for item in items.iter().take(8) {
                    inner.item(out, 0xE000, UNDEFINED);
                    encode(&inner, item, depth + 1, out);
                    inner.item(out, 0xE00D, 0);
                }
                inner.item(out, 0xE0DD, 0);
            }
            ValueChoice::Items(_) | ValueChoice::UnItems(_) => {}
            ValueChoice::Fragments(frags) => {
                enc.header(out, tag, b"OB", UNDEFINED);
                for f in frags.iter().take(8) {
                    let n = f.len() + f.len() % 2;
                    enc.item(out, 0xE000, n as u32);
                    out.extend(f);
                    if f.len() % 2 == 1 {
                        out.push(0);
                    }
                }
                enc.item(out, 0xE0DD, 0);
            }
            v => {
                let mut bytes = match v {
                    ValueChoice::Text(i) => TEXTS[*i as usize % TEXTS.len()].to_vec(),
                    ValueChoice::Texts(i, j) => [
                        TEXTS[*i as usize % TEXTS.len()],
                        b"\\",
                        TEXTS[*j as usize % TEXTS.len()],
                    ]
                    .concat(),
                    ValueChoice::Charset(i) => CHARSETS[*i as usize % CHARSETS.len()].to_vec(),
                    ValueChoice::Bytes(b) => b.clone(),
                    _ => unreachable!(),
                };
                if let TagChoice::Creator(_, _, c) = el.tag {
                    bytes = CREATORS[c as usize % CREATORS.len()].to_vec();
                }
                if bytes.len() % 2 == 1 {
                    bytes.push(if vr == b"UI" || vr == b"OB" { 0 } else { b' ' });
                }
                enc.header(out, tag, vr, bytes.len() as u32);
                out.extend(bytes);
            }
        }
    }
}

fn build(file: &File) -> Vec<u8> {
    let ts = SYNTAXES[file.syntax as usize % SYNTAXES.len()];
    let enc = Enc {
        explicit: ts != "1.2.840.10008.1.2",
        big: ts == "1.2.840.10008.1.2.2",
    };
    let mut dataset = Vec::new();
    encode(&enc, &file.elements, 0, &mut dataset);
    let deflated = ts == "1.2.840.10008.1.2.1.99";
    let mut out = Vec::new();
    if file.meta || deflated {
        out = pipeline::bytes::head(ts);
        if !file.preamble {
            out.drain(..128);
        }
    }
    if deflated {
        let mut z = flate2::write::DeflateEncoder::new(out, flate2::Compression::fast());
        z.write_all(&dataset).expect("in memory");
        z.finish().expect("in memory")
    } else {
        out.extend(dataset);
        out
    }
}

/// Set FUZZ_WRITE_BUILT=<path> when reproducing a finding to get the file that was built: that
/// file (not the description) goes into tests/fuzz_corpus/pipeline/.
fn write_built() -> Option<&'static str> {
    static PATH: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    PATH.get_or_init(|| std::env::var("FUZZ_WRITE_BUILT").ok())
        .as_deref()
}

fuzz_target!(|file: File| {
    let bytes = build(&file);
    if let Some(path) = write_built() {
        std::fs::write(path, &bytes).expect("FUZZ_WRITE_BUILT is writable");
    }
    pipeline::run(&bytes);
});
