//! Block-selective JPEG redaction checked by independent decoders (Pillow, djpeg).
//!
//! `tests/jpeg_redact_oracle.py make` writes the test streams (Pillow at several qualities and
//! subsamplings, cjpeg with restart intervals, optimized tables, one scan per component,
//! arithmetic and progressive to be refused, and the JPEG frames of pydicom's test files); this
//! test redacts each; `check` decodes both and compares. Skipped, with a message, when no
//! Python with Pillow and numpy is found (set DICOMVEIL_TEST_PYTHON to choose one).

use std::path::{Path, PathBuf};
use std::process::Command;

use dicomveil::jpegredact::{frame_info, redact_frame, BlackLevel, Rect};

fn python() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        std::env::var_os("DICOMVEIL_TEST_PYTHON").map(PathBuf::from),
        Some(root.join(".venv/bin/python")),
        Some(PathBuf::from("python3")),
    ];
    candidates.into_iter().flatten().find(|p| {
        Command::new(p)
            .args(["-c", "import PIL, numpy"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
fn redacted_streams_decode_identically_outside_the_region() {
    let Some(py) = python() else {
        eprintln!("skipped: no Python with Pillow and numpy");
        return;
    };
    let oracle = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/jpeg_redact_oracle.py");
    let dir = tempfile::tempdir().unwrap();
    let made = Command::new(&py)
        .arg(&oracle)
        .arg("make")
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(made.success(), "making the test streams failed");
    let cases = std::fs::read_to_string(dir.path().join("cases.tsv")).unwrap();
    for line in cases.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let (name, black) = (f[0], f[2]);
        let r: Vec<u32> = f[1].split(' ').map(|v| v.parse().unwrap()).collect();
        let region = Rect {
            x: r[0],
            y: r[1],
            w: r[2],
            h: r[3],
        };
        let jpeg = std::fs::read(dir.path().join(format!("{name}.jpg"))).unwrap();
        let level = match black {
            "luma0" => BlackLevel::Luma0,
            "rgb0" => BlackLevel::Rgb0,
            "max" => BlackLevel::Max,
            _ => match frame_info(&jpeg) {
                Ok(info) if info.stored_as_rgb() => BlackLevel::Rgb0,
                _ => BlackLevel::Luma0,
            },
        };
        let resolved = match level {
            BlackLevel::Luma0 => "luma0",
            BlackLevel::Rgb0 => "rgb0",
            BlackLevel::Max => "max",
        };
        let json = match redact_frame(&jpeg, &[region], level) {
            Ok(out) => {
                std::fs::write(dir.path().join(format!("{name}.out.jpg")), &out.data).unwrap();
                format!(
                    r#"{{"mcus_replaced": {}, "mcus_total": {}, "tables_rebuilt": {}, "black": "{resolved}"}}"#,
                    out.mcus_replaced, out.mcus_total, out.tables_rebuilt
                )
            }
            Err(e) => format!(r#"{{"error": {:?}}}"#, e.to_string()),
        };
        std::fs::write(dir.path().join(format!("{name}.out.json")), json).unwrap();
    }
    let checked = Command::new(&py)
        .arg(&oracle)
        .arg("check")
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(
        checked.success(),
        "the independent decoders disagree (see the lines marked FAIL)"
    );
}
