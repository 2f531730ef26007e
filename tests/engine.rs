//! Engine tests that need no Python: synthetic files in every transfer syntax, and (when
//! pydicom's test files can be found) a read -> anonymize -> write -> read pass over them.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use dicom_core::{Tag, VR};
use dicomveil::dataset::{Data, TransferSyntax, Value};
use dicomveil::profile::{default_rules, CompiledProfile, MethodCode};
use dicomveil::{read_bytes, to_bytes, Anonymizer, DataSet, DicomFile, Element};

fn basic() -> Arc<CompiledProfile> {
    Arc::new(
        CompiledProfile::compile(
            &default_rules(1),
            "default",
            vec!["test".into()],
            vec![MethodCode {
                value: "113100".into(),
                meaning: "Basic Application Confidentiality Profile".into(),
            }],
        )
        .unwrap(),
    )
}

fn text(ds: &DataSet, g: u16, e: u16) -> Option<String> {
    ds.text(Tag(g, e))
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

fn synthetic(ts_uid: &str) -> DicomFile {
    let ts = TransferSyntax::from_uid(ts_uid).unwrap();
    let mut ds = DataSet::new();
    let t = |g, e, vr, v: &str| Element::text(Tag(g, e), vr, &[v]);
    ds.put(t(0x0008, 0x0016, VR::UI, "1.2.840.10008.5.1.4.1.1.7"));
    ds.put(t(0x0008, 0x0018, VR::UI, "1.2.3.4.5.6.7"));
    ds.put(t(0x0008, 0x0020, VR::DA, "20200102"));
    ds.put(t(0x0008, 0x0080, VR::LO, "ST ELSEWHERE HOSPITAL"));
    ds.put(t(0x0010, 0x0010, VR::PN, "DOE^JANE"));
    ds.put(t(0x0010, 0x0020, VR::LO, "PID123456"));
    let referenced = DataSet {
        elements: vec![
            t(0x0008, 0x1150, VR::UI, "1.2.840.10008.5.1.4.1.1.7"),
            t(0x0008, 0x1155, VR::UI, "1.2.3.4.5.6.8"),
            t(0x0010, 0x0010, VR::PN, "DOE^NESTED"),
        ],
    };
    ds.put(Element::new(
        Tag(0x0008, 0x1140),
        VR::SQ,
        Value::Sequence(vec![referenced]),
    ));
    ds.put(t(0x0009, 0x0010, VR::LO, "ACME PRIVATE"));
    ds.put(t(0x0009, 0x1001, VR::LO, "DOE^PRIVATE"));
    ds.put(Element::bytes(
        Tag(0x0028, 0x0010),
        VR::US,
        if ts.big_endian {
            vec![0, 4]
        } else {
            vec![4, 0]
        },
    ));
    let pixels: Vec<u8> = (0..32u8).collect();
    if ts.encapsulated {
        ds.put(Element::new(
            Tag(0x7FE0, 0x0010),
            VR::OB,
            Value::Fragments(vec![Data::Inline(vec![]), Data::Inline(pixels)]),
        ));
    } else {
        ds.put(Element::bytes(Tag(0x7FE0, 0x0010), VR::OW, pixels));
    }
    DicomFile {
        meta: DataSet::new(),
        transfer_syntax: ts,
        dataset: ds,
        source: Default::default(),
        source_len: 0,
        name: "synthetic".into(),
    }
}

const SYNTAXES: [&str; 5] = [
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.2",
    "1.2.840.10008.1.2.1.99",
    "1.2.840.10008.1.2.5",
];

#[test]
fn synthetic_round_trip_in_every_syntax() {
    for uid in SYNTAXES {
        let file = synthetic(uid);
        let bytes = to_bytes(&file).unwrap();
        let back = read_bytes(bytes.into(), "mem").unwrap();
        assert_eq!(back.transfer_syntax.uid, uid);
        assert_eq!(
            back.dataset.elements.len(),
            file.dataset.elements.len(),
            "{uid}"
        );
        assert_same(&file.dataset, &back.dataset, &back.source, uid);
    }
}

/// Same elements and values (padding aside; values may come back referenced in the source).
fn assert_same(a: &DataSet, b: &DataSet, source: &dicomveil::dataset::Source, what: &str) {
    assert_eq!(a.elements.len(), b.elements.len(), "{what}");
    for (x, y) in a.elements.iter().zip(&b.elements) {
        assert_eq!(x.tag, y.tag, "{what}");
        match (&x.value, &y.value) {
            (Value::Primitive(p), Value::Primitive(q)) => {
                let p = p.bytes(&Default::default()).unwrap();
                let q = q.bytes(source).unwrap();
                assert_eq!(
                    dicomveil::dataset::trim_padding(&p),
                    dicomveil::dataset::trim_padding(&q),
                    "{what} {:?}",
                    x.tag
                );
            }
            (Value::Sequence(p), Value::Sequence(q)) => {
                assert_eq!(p.len(), q.len(), "{what}");
                for (i, j) in p.iter().zip(q) {
                    assert_same(i, j, source, what);
                }
            }
            (p, q) => assert_eq!(p, q, "{what}"),
        }
    }
}

#[test]
fn synthetic_anonymized_in_every_syntax() {
    // resolved by the Secondary Capture IOD's types, and literally (the table's fixed choices)
    let literal = Arc::new(basic().as_ref().clone().literal());
    for (anon, conform) in [
        (Anonymizer::new(basic(), b"k"), true),
        (Anonymizer::new(literal, b"k"), false),
    ] {
        synthetic_in_every_syntax(&anon, conform);
    }
}

fn synthetic_in_every_syntax(anon: &Anonymizer, conform: bool) {
    for uid in SYNTAXES {
        let bytes = to_bytes(&synthetic(uid)).unwrap();
        let mut file = read_bytes(bytes.into(), "mem").unwrap();
        anon.anonymize(&mut file).unwrap();
        let out = to_bytes(&file).unwrap();
        let mut search = out.clone();
        if file.transfer_syntax.deflated {
            use std::io::Read;
            let mut inflated = Vec::new();
            // the meta group is not deflated; find the dataset after it
            let back = read_bytes(out.clone().into(), "out").unwrap();
            let plain = DicomFile {
                transfer_syntax: TransferSyntax::from_uid("1.2.840.10008.1.2.1").unwrap(),
                ..back
            };
            to_bytes(&plain)
                .unwrap()
                .as_slice()
                .read_to_end(&mut inflated)
                .unwrap();
            search = inflated;
        }
        for needle in [
            "DOE",
            "PID123456",
            "ELSEWHERE",
            "1.2.3.4.5.6.7",
            "1.2.3.4.5.6.8",
            "ACME",
        ] {
            assert!(
                !search.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{uid}: {needle} left in the output"
            );
        }
        let back = read_bytes(out.into(), "out").unwrap();
        let ds = &back.dataset;
        assert_eq!(text(ds, 0x0010, 0x0010).as_deref(), Some(""));
        // Institution Name: X/Z/D, Type 3 in the SC Image IOD's General Equipment Module, so X;
        // literally, the fixed choice D
        if conform {
            assert_eq!(text(ds, 0x0008, 0x0080), None);
        } else {
            assert_eq!(text(ds, 0x0008, 0x0080).as_deref(), Some("ANONYMIZED"));
        }
        assert_eq!(text(ds, 0x0012, 0x0062).as_deref(), Some("YES"));
        assert_eq!(text(ds, 0x0028, 0x0303).as_deref(), Some("REMOVED"));
        let new_sop = String::from_utf8(anon.uids.map(b"1.2.3.4.5.6.7")).unwrap();
        assert_eq!(text(ds, 0x0008, 0x0018).as_deref(), Some(new_sop.as_str()));
        assert_eq!(
            back.meta
                .text(Tag(0x0002, 0x0003))
                .map(|v| String::from_utf8_lossy(v).into_owned()),
            Some(new_sop)
        );
        assert!(ds.get(Tag(0x0009, 0x0010)).is_none());
        assert!(ds.get(Tag(0x0009, 0x1001)).is_none());
        // Referenced Image Sequence: X/Z/U*, Type 3 in the General Image Module, so X; literally,
        // kept with the UIDs inside replaced
        if conform {
            assert!(ds.get(Tag(0x0008, 0x1140)).is_none());
            continue;
        }
        let Value::Sequence(items) = &ds.get(Tag(0x0008, 0x1140)).unwrap().value else {
            panic!("sequence expected")
        };
        let item = &items[0];
        assert_eq!(
            text(item, 0x0008, 0x1150).as_deref(),
            Some("1.2.840.10008.5.1.4.1.1.7")
        );
        assert!(text(item, 0x0008, 0x1155).unwrap().starts_with("2.25."));
        assert_eq!(text(item, 0x0010, 0x0010).as_deref(), Some(""));
        assert!(ds.get(Tag(0x0009, 0x0010)).is_none());
        assert!(ds.get(Tag(0x0009, 0x1001)).is_none());
    }
}

fn pydicom_test_files() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import pydicom, os; print(os.path.dirname(pydicom.__file__))",
        ])
        .output()
        .ok()?;
    let dir = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim()).join("data");
    dir.is_dir().then_some(dir)
}

#[test]
fn pydicom_corpus_is_anonymized_or_refused_cleanly() {
    let Some(dir) = pydicom_test_files() else {
        eprintln!("pydicom not found: corpus test skipped");
        return;
    };
    let anon = Anonymizer::new(basic(), b"k");
    let mut files = Vec::new();
    for sub in ["test_files", "charset_files"] {
        for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|e| e == "dcm")
                || p.file_name().is_some_and(|n| n == "DICOMDIR")
            {
                files.push(p);
            }
        }
    }
    assert!(files.len() > 50);
    let (mut done, mut refused) = (0, Vec::new());
    for p in &files {
        match dicomveil::read_path(p).and_then(|mut f| {
            anon.anonymize(&mut f)?;
            let bytes = to_bytes(&f)?;
            read_bytes(bytes.into(), "out")
        }) {
            Ok(_) => done += 1,
            Err(e) => {
                let msg = e.to_string();
                assert!(
                    msg.contains(p.file_name().unwrap().to_str().unwrap()),
                    "{msg}"
                );
                refused.push(msg);
            }
        }
    }
    eprintln!("{done} anonymized, {} refused:", refused.len());
    for r in &refused {
        eprintln!("  {r}");
    }
    assert!(refused.len() <= 8, "too many refused: {refused:#?}");
}

#[test]
fn dummy_on_a_sequence_replaces_identity_and_keeps_structure() {
    let t = |g, e, vr, v: &str| Element::text(Tag(g, e), vr, &[v]);
    let code = DataSet {
        elements: vec![
            t(0x0008, 0x0100, VR::SH, "121071"),
            t(0x0008, 0x0102, VR::SH, "DCM"),
            t(0x0008, 0x0104, VR::LO, "Finding"),
        ],
    };
    let content_item = DataSet {
        elements: vec![
            t(0x0040, 0xA010, VR::CS, "CONTAINS"),
            t(0x0040, 0xA040, VR::CS, "TEXT"),
            Element::new(Tag(0x0040, 0xA043), VR::SQ, Value::Sequence(vec![code])),
            t(0x0040, 0xA123, VR::PN, "DOE^JOHN"),
            t(0x0040, 0xA124, VR::UI, "1.2.3.99"),
            t(0x0040, 0xA160, VR::UT, "Seen by Dr Who for John Doe"),
            t(0x0040, 0xA30A, VR::DS, "12.5"),
        ],
    };
    let mut ds = DataSet::new();
    ds.put(t(0x0008, 0x0018, VR::UI, "1.2.3.1"));
    ds.put(Element::new(
        Tag(0x0040, 0xA730),
        VR::SQ,
        Value::Sequence(vec![content_item]),
    ));
    let mut file = DicomFile {
        meta: DataSet::new(),
        transfer_syntax: TransferSyntax::from_uid("1.2.840.10008.1.2.1").unwrap(),
        dataset: ds,
        source: Default::default(),
        source_len: 0,
        name: "sr".into(),
    };
    let anon = Anonymizer::new(basic(), b"k");
    anon.anonymize(&mut file).unwrap();
    let Value::Sequence(items) = &file.dataset.get(Tag(0x0040, 0xA730)).unwrap().value else {
        panic!()
    };
    let item = &items[0];
    // structure kept
    assert_eq!(text(item, 0x0040, 0xA010).as_deref(), Some("CONTAINS"));
    assert_eq!(text(item, 0x0040, 0xA040).as_deref(), Some("TEXT"));
    assert_eq!(text(item, 0x0040, 0xA30A).as_deref(), Some("12.5"));
    // identity replaced
    assert_eq!(text(item, 0x0040, 0xA160).as_deref(), Some("ANONYMIZED"));
    assert_eq!(text(item, 0x0040, 0xA123).as_deref(), Some("ANONYMIZED"));
    let uid = String::from_utf8(anon.uids.map(b"1.2.3.99")).unwrap();
    assert_eq!(text(item, 0x0040, 0xA124).as_deref(), Some(uid.as_str()));
    let Value::Sequence(codes) = &item.get(Tag(0x0040, 0xA043)).unwrap().value else {
        panic!()
    };
    // a coded concept keeps its meaning
    assert_eq!(text(&codes[0], 0x0008, 0x0104).as_deref(), Some("Finding"));
    assert_eq!(text(&codes[0], 0x0008, 0x0100).as_deref(), Some("121071"));
}

#[test]
fn removing_overlay_data_removes_the_overlay_group() {
    let mut ds = DataSet::new();
    ds.put(Element::bytes(Tag(0x6000, 0x0010), VR::US, vec![8, 0]));
    ds.put(Element::text(Tag(0x6000, 0x0040), VR::CS, &["G"]));
    ds.put(Element::bytes(Tag(0x6000, 0x3000), VR::OW, vec![0; 8]));
    ds.put(Element::bytes(Tag(0x6002, 0x0010), VR::US, vec![8, 0]));
    let mut file = DicomFile {
        meta: DataSet::new(),
        transfer_syntax: TransferSyntax::from_uid("1.2.840.10008.1.2.1").unwrap(),
        dataset: ds,
        source: Default::default(),
        source_len: 0,
        name: "overlay".into(),
    };
    Anonymizer::new(basic(), b"k").anonymize(&mut file).unwrap();
    let groups: Vec<u16> = file.dataset.elements.iter().map(|e| e.tag.0).collect();
    assert!(!groups.contains(&0x6000), "{groups:x?}");
    // a group without overlay data is not touched
    assert!(groups.contains(&0x6002));
}

#[path = "../fuzz/bytes.rs"]
mod bytes;
use bytes::{explicit, explicit_long as long, ITEM_END, ITEM_UNDEFINED, SEQ_END};

fn part10_explicit_le(dataset: &[u8]) -> Vec<u8> {
    bytes::part10(bytes::EXPLICIT_LE, dataset)
}

/// An implicit VR LE element (as inside UN sequences).
fn implicit(tag: (u16, u16), value: &[u8]) -> Vec<u8> {
    bytes::implicit(tag, value.len() as u32, value)
}

#[test]
fn undefined_length_un_is_read_as_an_implicit_sequence_and_cleaned() {
    // CP-246: (0040,0275) RequestAttributesSequence sent as UN with undefined length
    let mut ds = explicit((0x0008, 0x0018), b"UI", b"1.2.3.4\0");
    let mut content = ITEM_UNDEFINED.to_vec();
    content.extend(implicit((0x0010, 0x0010), b"DOE^HIDDEN"));
    content.extend(implicit((0x0040, 0x0009), b"SPS-ID"));
    content.extend_from_slice(&ITEM_END);
    content.extend_from_slice(&SEQ_END);
    ds.extend(long((0x0040, 0x0275), b"UN", 0xFFFF_FFFF, &content));
    // the same as UN with a defined length, on a tag the dictionary knows as SQ
    let mut defined = Vec::new();
    let item = implicit((0x0010, 0x0010), b"DOE^AGAIN ");
    defined.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0]);
    defined.extend_from_slice(&(item.len() as u32).to_le_bytes());
    defined.extend(item);
    ds.extend(long(
        (0x0040, 0xA730),
        b"UN",
        defined.len() as u32,
        &defined,
    ));
    let mut file = read_bytes(part10_explicit_le(&ds).into(), "cp246").unwrap();
    let seq = file.dataset.get(Tag(0x0040, 0x0275)).unwrap();
    assert_eq!(seq.vr, VR::SQ);
    Anonymizer::new(basic(), b"k").anonymize(&mut file).unwrap();
    let out = to_bytes(&file).unwrap();
    assert!(!out.windows(6).any(|w| w == b"HIDDEN"));
    assert!(!out.windows(5).any(|w| w == b"AGAIN"));
    let back = read_bytes(out.into(), "out").unwrap();
    assert!(back.dataset.get(Tag(0x0040, 0x0275)).is_none()); // X in the Basic profile
    assert_eq!(back.dataset.get(Tag(0x0040, 0xA730)).unwrap().vr, VR::SQ);
}

#[test]
fn malformed_inputs_give_errors_not_panics() {
    let good = {
        let mut ds = explicit((0x0008, 0x0018), b"UI", b"1.2.3.4\0");
        let mut content = ITEM_UNDEFINED.to_vec();
        content.extend(explicit((0x0010, 0x0010), b"PN", b"DOE^JOHN"));
        content.extend_from_slice(&ITEM_END);
        content.extend_from_slice(&SEQ_END);
        ds.extend(long((0x0008, 0x1140), b"SQ", 0xFFFF_FFFF, &content));
        ds.extend(long((0x7FE0, 0x0010), b"OW", 8, &[1, 2, 3, 4, 5, 6, 7, 8]));
        part10_explicit_le(&ds)
    };
    assert!(read_bytes(good.clone().into(), "good").is_ok());
    // every truncation is an error naming the input, never a panic
    for cut in 0..good.len() {
        let r = read_bytes(good[..cut].to_vec().into(), "cut.dcm");
        if let Err(e) = r {
            assert!(e.to_string().starts_with("cut.dcm"), "{e}");
        }
    }
    // a huge length claim is refused before anything is allocated
    let mut huge = explicit((0x0008, 0x0018), b"UI", b"1.2.3.4\0");
    huge.extend(long((0x7FE0, 0x0010), b"OB", 0xFFFF_FFF0, &[0; 16]));
    let e = read_bytes(part10_explicit_le(&huge).into(), "huge.dcm").unwrap_err();
    assert!(e.to_string().contains("announced"), "{e}");
    // an odd length is read and written padded
    let odd = explicit((0x0010, 0x0010), b"PN", b"ODD");
    let f = read_bytes(part10_explicit_le(&odd).into(), "odd").unwrap();
    let back = read_bytes(to_bytes(&f).unwrap().into(), "back").unwrap();
    assert_eq!(back.dataset.text(Tag(0x0010, 0x0010)), Some(&b"ODD"[..]));
    // nesting deeper than the limit is refused
    let mut deep = Vec::new();
    for _ in 0..100 {
        deep.extend(long((0x0008, 0x1140), b"SQ", 0xFFFF_FFFF, &[]));
        deep.extend_from_slice(&ITEM_UNDEFINED);
    }
    let e = read_bytes(part10_explicit_le(&deep).into(), "deep").unwrap_err();
    assert!(e.to_string().contains("nested deeper"), "{e}");
}

/// A file larger than what is read whole: its bulk values stay in the file and are copied to
/// the output file by the kernel (`copy_file_range`) when saved. The output must be exactly
/// the bytes of the same tree serialized in memory, in every syntax (deflated ones are
/// written through the compressor instead), and `save` must count every byte.
#[test]
fn large_files_are_saved_exactly_as_serialized() {
    let dir = tempfile::tempdir().unwrap();
    let anon = Anonymizer::new(basic(), b"key");
    for (i, uid) in SYNTAXES.iter().enumerate() {
        let mut file = synthetic(uid);
        let big: Vec<u8> = (0..700_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let second: Vec<u8> = (0..300_001u32).map(|i| (i % 13) as u8).collect();
        let pixels = if file.transfer_syntax.encapsulated {
            Value::Fragments(vec![
                Data::Inline(vec![]),
                Data::Inline(big.clone()),
                Data::Inline(second.clone()),
            ])
        } else {
            Value::Primitive(Data::Inline(big.clone()))
        };
        file.dataset
            .put(Element::new(Tag(0x7FE0, 0x0010), VR::OB, pixels));
        // another bulk value before the pixels: two kernel copies with a header between
        file.dataset
            .put(Element::bytes(Tag(0x5400, 0x1010), VR::OB, second.clone()));
        let input = dir.path().join(format!("in{i}.dcm"));
        std::fs::write(&input, to_bytes(&file).unwrap()).unwrap();

        let mut read = dicomveil::read_path(&input).unwrap();
        if !file.transfer_syntax.deflated {
            assert!(
                matches!(read.source, dicomveil::dataset::Source::File(_)),
                "{uid}: a large file keeps its bulk values in the file"
            );
        }
        anon.anonymize(&mut read).unwrap();
        let output = dir.path().join(format!("out{i}.dcm"));
        let written = dicomveil::save(&read, &output).unwrap();
        let on_disk = std::fs::read(&output).unwrap();
        assert_eq!(written, on_disk.len() as u64, "{uid}: bytes counted");
        assert!(
            on_disk == to_bytes(&read).unwrap(),
            "{uid}: saved bytes differ"
        );
        let back = read_bytes(on_disk.into(), "out").unwrap();
        let value = |tag: Tag| -> Vec<Vec<u8>> {
            let element = back.dataset.elements.iter().find(|e| e.tag == tag);
            match &element.unwrap_or_else(|| panic!("{uid}: {tag} kept")).value {
                Value::Primitive(d) => vec![d.bytes(&back.source).unwrap().into_owned()],
                Value::Fragments(f) => f
                    .iter()
                    .map(|d| d.bytes(&back.source).unwrap().into_owned())
                    .collect(),
                Value::Sequence(_) => panic!("{uid}: not a sequence"),
            }
        };
        // values of odd length come back padded to even
        let mut second_padded = second.clone();
        second_padded.push(0);
        let expected_pixels = if file.transfer_syntax.encapsulated {
            vec![vec![], big.clone(), second_padded.clone()]
        } else {
            vec![big.clone()]
        };
        assert!(
            value(Tag(0x7FE0, 0x0010)) == expected_pixels,
            "{uid}: pixel data"
        );
        assert!(
            value(Tag(0x5400, 0x1010)) == vec![second_padded],
            "{uid}: waveform"
        );
    }
}

/// A text finder (the OCR hook) that records the files it is asked about and answers as told.
struct StubFinder {
    calls: std::sync::Mutex<Vec<String>>,
    unavailable: bool,
}

impl dicomveil::anonymize::TextFinder for StubFinder {
    fn find(&self, file: &DicomFile) -> dicomveil::Result<dicomveil::anonymize::TextFound> {
        self.calls.lock().unwrap().push(file.name.clone());
        if self.unavailable {
            return Err(dicomveil::Error::OcrUnavailable {
                name: String::new(),
                what: "no engine".into(),
            });
        }
        Ok(dicomveil::anonymize::TextFound {
            boxes: vec![],
            note: "OCR: no text found (1 of 1 frame(s) read)".into(),
        })
    }
}

#[test]
fn the_text_finder_sees_the_files_in_its_scope_and_its_error_refuses_them() {
    let stub = |unavailable| {
        Arc::new(StubFinder {
            calls: std::sync::Mutex::new(vec![]),
            unavailable,
        })
    };
    let finder = stub(false);
    let mut anon = Anonymizer::new(basic(), b"a test key, long enough");
    anon.pixel_text = Some(dicomveil::anonymize::PixelText {
        finder: finder.clone(),
        all: false,
    });
    // a secondary capture: read; the note comes first, the burned-in flag stays (no box)
    let mut sc = synthetic("1.2.840.10008.1.2.1");
    let done = anon.anonymize(&mut sc).unwrap();
    assert_eq!(
        done.pixels.as_deref(),
        Some("OCR: no text found (1 of 1 frame(s) read)")
    );
    assert!(done.flags.contains(&"burned-in-annotation"));
    // one that says NO, a CT, a file without pixel data: not read
    let mut no = synthetic("1.2.840.10008.1.2.1");
    no.dataset
        .put(Element::text(Tag(0x0028, 0x0301), VR::CS, &["NO"]));
    let mut ct = synthetic("1.2.840.10008.1.2.1");
    ct.dataset.put(Element::text(
        Tag(0x0008, 0x0016),
        VR::UI,
        &["1.2.840.10008.5.1.4.1.1.2"],
    ));
    let mut bare = synthetic("1.2.840.10008.1.2.1");
    bare.dataset.remove(Tag(0x7FE0, 0x0010));
    for f in [&mut no, &mut ct, &mut bare] {
        assert_eq!(anon.anonymize(f).unwrap().pixels, None);
    }
    assert_eq!(finder.calls.lock().unwrap().len(), 1);
    // every image when asked: the CT too
    let mut ct = synthetic("1.2.840.10008.1.2.1");
    ct.dataset.put(Element::text(
        Tag(0x0008, 0x0016),
        VR::UI,
        &["1.2.840.10008.5.1.4.1.1.2"],
    ));
    anon.pixel_text.as_mut().unwrap().all = true;
    anon.anonymize(&mut ct).unwrap();
    assert_eq!(finder.calls.lock().unwrap().len(), 2);
    // the finder's error refuses the file, named
    anon.pixel_text = Some(dicomveil::anonymize::PixelText {
        finder: stub(true),
        all: false,
    });
    let mut sc = synthetic("1.2.840.10008.1.2.1");
    let e = anon.anonymize(&mut sc).unwrap_err();
    assert_eq!(e.kind(), "OcrUnavailableError");
    assert_eq!(e.to_string(), "synthetic: no engine: refused");
}
