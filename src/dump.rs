//! A readable listing of a file's elements, nested, with VRs (for checking results).

use std::fmt::Write;

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_dictionary_std::StandardDataDictionary;

use crate::dataset::{tag_str, DataSet, DicomFile, Value};
use crate::value::{decode, Plain};

/// List every element: tag, VR, keyword and value (text cut at `max_len` characters).
pub fn dump(file: &DicomFile, max_len: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# transfer syntax {}", file.transfer_syntax.uid);
    for el in &file.meta.elements {
        line(&mut out, file, &file.meta, el, 0, max_len);
    }
    dataset(&mut out, file, &file.dataset, 0, max_len);
    out
}

fn dataset(out: &mut String, file: &DicomFile, ds: &DataSet, depth: usize, max_len: usize) {
    for el in &ds.elements {
        line(out, file, ds, el, depth, max_len);
    }
}

fn line(
    out: &mut String,
    file: &DicomFile,
    ds: &DataSet,
    el: &crate::dataset::Element,
    depth: usize,
    max_len: usize,
) {
    let indent = "  ".repeat(depth);
    let keyword = StandardDataDictionary
        .by_tag(el.tag)
        .map(|e| e.alias().to_string())
        .unwrap_or_default();
    let head = format!(
        "{indent}{} {} {keyword}",
        tag_str(el.tag),
        el.vr.to_string()
    );
    match &el.value {
        Value::Sequence(items) => {
            let _ = writeln!(out, "{head} ({} items)", items.len());
            for (i, item) in items.iter().enumerate() {
                let _ = writeln!(out, "{indent}  item {}", i + 1);
                dataset(out, file, item, depth + 2, max_len);
            }
        }
        Value::Fragments(f) => {
            let total: u64 = f.iter().map(|d| d.len()).sum();
            let _ = writeln!(out, "{head} <{} fragments, {total} bytes>", f.len());
        }
        Value::Primitive(data) => {
            let shown = if data.len() > 1024 {
                format!("<{} bytes>", data.len())
            } else {
                match decode(file, ds, el) {
                    Ok(Plain::Text(t)) => {
                        let s = t.join("\\");
                        if s.chars().count() > max_len {
                            let cut: String = s.chars().take(max_len).collect();
                            format!("[{cut}...]")
                        } else {
                            format!("[{s}]")
                        }
                    }
                    Ok(Plain::Int(v)) => format!("{v:?}"),
                    Ok(Plain::UInt(v)) => format!("{v:?}"),
                    Ok(Plain::Float(v)) => format!("{v:?}"),
                    Ok(Plain::Tags(v)) => v
                        .iter()
                        .map(|t| format!("({:04X},{:04X})", t >> 16, t & 0xFFFF))
                        .collect::<Vec<_>>()
                        .join("\\"),
                    Ok(Plain::Bytes(b)) => format!("<{} bytes>", b.len()),
                    Ok(_) => String::new(),
                    Err(_) => format!("<{} bytes, unreadable>", data.len()),
                }
            };
            let _ = writeln!(out, "{head} {shown}");
        }
    }
}
