//! The pipeline every fuzz input goes through, shared by the fuzz target
//! (`fuzz/fuzz_targets/pipeline.rs`) and the regression test over `tests/fuzz_corpus/`
//! (`tests/robustness.rs`), which include this file with `#[path]`.
//!
//! read -> (dump, decode every element) -> write -> re-read; then for two profiles: anonymize
//! (twice: the same bytes) -> write -> re-read -> anonymize again -> write -> re-read. An input may be refused, but
//! only by the reader and only with a clean error naming the input (and, for a malformed one,
//! the byte offset); whatever is read must be written as a file that reads back as the same
//! tree of elements and values, and can be anonymized again. Anything else panics (the
//! fuzzer's finding).

use std::sync::{Arc, OnceLock};

use dicom_dictionary_std::tags;
use dicomveil::dataset::{Data, DataSet, DicomFile, Source, Value};
use dicomveil::profile::{default_rules, CompiledProfile, MethodCode};
use dicomveil::{read_bytes, to_bytes, Anonymizer, Error};

#[path = "bytes.rs"]
pub mod bytes;

/// The name inputs are read under; every error must start with it.
pub const NAME: &str = "fuzz-input.dcm";

fn profile(options: u32) -> Arc<CompiledProfile> {
    Arc::new(
        CompiledProfile::compile(
            &default_rules(options),
            "default",
            vec!["fuzz".into()],
            vec![MethodCode {
                value: "113100".into(),
                meaning: "Basic Application Confidentiality Profile".into(),
            }],
        )
        .expect("the default profile compiles"),
    )
}

/// The Basic profile, and Basic with every option that keeps and cleans (so the cleaning, date
/// shifting and safe-private paths run too), with pseudonyms for the patient.
fn anonymizers() -> &'static [Anonymizer; 2] {
    static ANONYMIZERS: OnceLock<[Anonymizer; 2]> = OnceLock::new();
    ANONYMIZERS.get_or_init(|| {
        let basic = Anonymizer::new(profile(1), b"fuzz-key");
        // RETAIN_SAFE_PRIVATE | RETAIN_LONG_MODIF_DATES | CLEAN_DESC | CLEAN_STRUCTD_CONT |
        // CLEAN_GRAPH
        let mut cleaning = Anonymizer::new(profile(1 | 2 | 128 | 256 | 512 | 1024), b"fuzz-key");
        cleaning.patient_name = Some(dicomveil::anonymize::Replacement::Pseudonym);
        cleaning.patient_id = Some(dicomveil::anonymize::Replacement::Pseudonym);
        [basic, cleaning]
    })
}

/// An error for a malformed input: one of the reader's kinds, naming the input.
fn check_read_error(e: &Error, name: &str, what: &str) {
    let msg = e.to_string();
    assert!(
        msg.starts_with(name),
        "{what}: the error does not start with the input's name: {msg}"
    );
    match e {
        Error::InvalidDicom { location, .. } => {
            assert!(
                msg.contains(&format!("at byte {}", location.offset)),
                "{what}: {msg}"
            );
        }
        Error::NotDicom { .. } | Error::UnsupportedTransferSyntax { .. } => {}
        // a malformed DICOMDIR is named as what it is
        Error::Unsupported { .. } => assert!(msg.contains("DICOMDIR"), "{what}: {msg}"),
        other => panic!("{what}: unexpected kind of error for a readable input: {other:?}"),
    }
}

/// Run one input through the whole pipeline; panics on any broken promise.
pub fn run(data: &[u8]) {
    after_read(read_bytes(Arc::from(data), NAME), NAME);
}

/// The same, reading from a file (bulk values then stay in the file and are copied from it).
#[allow(dead_code)]
pub fn run_path(path: &std::path::Path) {
    after_read(dicomveil::read_path(path), &path.display().to_string());
}

fn after_read(read: Result<DicomFile, Error>, name: &str) {
    let file = match read {
        Ok(f) => f,
        Err(e) => {
            check_read_error(&e, name, "read");
            return;
        }
    };
    // what Python's DicomFile.dump() and f[...] do: must not panic; errors are fine
    let _ = dicomveil::dump::dump(&file, 64);
    for el in &file.dataset.elements {
        let _ = dicomveil::value::decode(&file, &file.dataset, el);
    }
    // written back as it was read: reads again, as the same tree
    let plain = to_bytes(&file).expect("a file that was read can be written");
    match read_bytes(Arc::from(plain), NAME) {
        Ok(back) => same_tree(&file, &back),
        Err(e) => panic!("the input written back without changes does not read again: {e}"),
    }
    for anon in anonymizers() {
        let mut f = file.clone();
        match anon.anonymize(&mut f) {
            Ok(_) => {}
            Err(Error::Unsupported { .. }) if dicomveil::read::is_dicomdir(&f) => return,
            // compressed pixel data that cannot be cleaned (a JPEG header too broken to find
            // its text segments in) is refused, by name, never passed on
            Err(e @ Error::PixelData { .. }) => {
                assert!(
                    e.to_string().contains(": pixel data cannot be cleaned: "),
                    "{e}"
                );
                continue;
            }
            Err(e) => panic!("anonymize failed on a file that was read: {e}"),
        }
        let out = to_bytes(&f).expect("an anonymized file can be written");
        // deterministic: the same input and key give the same bytes
        let mut twice = file.clone();
        anon.anonymize(&mut twice).expect("it worked once");
        assert!(to_bytes(&twice).expect("written") == out, "two runs differ");
        let again = read_bytes(Arc::from(out), NAME)
            .unwrap_or_else(|e| panic!("the anonymized output does not read again: {e}"));
        assert_eq!(again.transfer_syntax, f.transfer_syntax);
        same_tree(&f, &again);
        assert_eq!(
            again
                .dataset
                .text(tags::PATIENT_IDENTITY_REMOVED)
                .map(<[u8]>::to_vec),
            Some(b"YES".to_vec()),
            "the output lost its marker"
        );
        second_pass(anon, again);
    }
}

/// Anonymizing an output again works, and its output reads again.
fn second_pass(anon: &Anonymizer, mut f: DicomFile) {
    anon.anonymize(&mut f)
        .unwrap_or_else(|e| panic!("anonymizing the output again failed: {e}"));
    let out = to_bytes(&f).expect("written again");
    read_bytes(Arc::from(out), NAME)
        .unwrap_or_else(|e| panic!("the twice-anonymized output does not read again: {e}"));
}

/// What was written is what is read back: the same elements at every level, the same values
/// (a value of odd length comes back with its one padding byte), the same VR (or UN, where a
/// value was too long for its VR's 16-bit length; OB for encapsulated pixel data).
fn same_tree(written: &DicomFile, read: &DicomFile) {
    // group 0002 belongs to the meta, which is written anew
    let top: Vec<_> = written
        .dataset
        .elements
        .iter()
        .filter(|e| e.tag.0 != 0x0002)
        .cloned()
        .collect();
    same_set(
        &DataSet { elements: top },
        &written.source,
        &read.dataset,
        &read.source,
        "",
    );
}

fn same_set(a: &DataSet, sa: &Source, b: &DataSet, sb: &Source, path: &str) {
    let tags = |d: &DataSet| d.elements.iter().map(|e| e.tag).collect::<Vec<_>>();
    assert_eq!(tags(a), tags(b), "elements differ at {path:?}");
    for (x, y) in a.elements.iter().zip(&b.elements) {
        let here = format!("{path} > ({:04X},{:04X})", x.tag.0, x.tag.1);
        // encapsulated pixel data is written OB (PS3.5 A.4), whatever VR it was read with
        let fragments_ob = matches!(x.value, Value::Fragments(_)) && y.vr == dicom_core::VR::OB;
        assert!(
            x.vr == y.vr || y.vr == dicom_core::VR::UN || fragments_ob,
            "{here}: VR {:?} came back as {:?}",
            x.vr,
            y.vr
        );
        match (&x.value, &y.value) {
            (Value::Primitive(p), Value::Primitive(q)) => same_data(p, sa, q, sb, &here),
            (Value::Sequence(p), Value::Sequence(q)) => {
                assert_eq!(p.len(), q.len(), "{here}: number of items");
                for (i, (u, v)) in p.iter().zip(q).enumerate() {
                    same_set(u, sa, v, sb, &format!("{here}[{i}]"));
                }
            }
            (Value::Fragments(p), Value::Fragments(q)) => {
                assert_eq!(p.len(), q.len(), "{here}: number of fragments");
                for (u, v) in p.iter().zip(q) {
                    same_data(u, sa, v, sb, &here);
                }
            }
            (p, q) => panic!("{here}: {p:?} came back as {q:?}"),
        }
    }
}

fn same_data(p: &Data, sa: &Source, q: &Data, sb: &Source, here: &str) {
    let p = p.bytes(sa).expect("written value readable");
    let q = q.bytes(sb).expect("read value readable");
    let padded = p.len() % 2 == 1 && q.len() == p.len() + 1;
    assert!(
        q[..] == p[..] || (padded && q[..p.len()] == p[..]),
        "{here}: value of {} bytes came back as {} different bytes",
        p.len(),
        q.len()
    );
}
