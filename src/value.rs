//! Values as a caller sees them (text, numbers, bytes), decoded from and encoded to the raw
//! bytes of an element. Used for element access from Python; the engine itself never decodes.

use std::borrow::Cow;

use dicom_core::{Tag, VR};
use dicom_encoding::text::{SpecificCharacterSet, TextCodec};

use crate::dataset::{
    is_text_vr, tag_str, tags, trim_padding, Data, DataSet, DicomFile, Element, Value,
};
use crate::error::{Error, Result};

/// A decoded value.
#[derive(Debug, Clone, PartialEq)]
pub enum Plain {
    /// Text values (one per backslash-separated value; one for LT, ST, UT, UR).
    Text(Vec<String>),
    Int(Vec<i64>),
    Float(Vec<f64>),
    /// Attribute tags (AT), as `0xggggeeee`.
    Tags(Vec<u32>),
    Bytes(Vec<u8>),
    /// A sequence: each item as (tag, value) pairs.
    Items(Vec<Vec<(u32, Plain)>>),
    /// Encapsulated pixel data: offset table, then fragments.
    Fragments(Vec<Vec<u8>>),
}

/// Text VRs whose value is never split on backslashes.
fn single_text(vr: VR) -> bool {
    matches!(vr, VR::LT | VR::ST | VR::UT | VR::UR)
}

/// The character set a dataset declares (its first value), as dicom-rs knows it.
fn charset(ds: &DataSet) -> Option<SpecificCharacterSet> {
    let v = ds.text(tags::SPECIFIC_CHARACTER_SET)?;
    let first = v.split(|&b| b == b'\\').next().unwrap_or(&[]);
    let code = String::from_utf8_lossy(trim_padding(first)).into_owned();
    if code.is_empty() {
        return None;
    }
    SpecificCharacterSet::from_code(&code)
}

fn decode_text(ds: &DataSet, bytes: &[u8]) -> String {
    if bytes.is_ascii() {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    match charset(ds).and_then(|c| c.decode(bytes).ok()) {
        Some(s) => s,
        // undeclared or unsupported (e.g. several ISO 2022 sets): Latin-1 never fails
        None => bytes.iter().map(|&b| b as char).collect(),
    }
}

fn encode_text(ds: &DataSet, tag: Tag, text: &str) -> Result<Vec<u8>> {
    if text.is_ascii() {
        return Ok(text.as_bytes().to_vec());
    }
    let codec = charset(ds).ok_or_else(|| Error::Value {
        tag: tag_str(tag),
        problem: "non-ASCII text needs a SpecificCharacterSet (0008,0005) that can encode it"
            .into(),
    })?;
    codec.encode(text).map_err(|_| Error::Value {
        tag: tag_str(tag),
        problem: format!("the text cannot be encoded in {}", codec.name()),
    })
}

fn read_numbers<const N: usize, T>(bytes: &[u8], big: bool, f: fn([u8; N], bool) -> T) -> Vec<T> {
    bytes
        .chunks_exact(N)
        .map(|c| f(c.try_into().expect("chunk of N bytes"), big))
        .collect()
}

/// The VR that a value is read with: the dictionary's when the element's is UN.
fn value_vr(el: &Element) -> VR {
    if el.vr == VR::UN {
        crate::dataset::dictionary_vr(el.tag).unwrap_or(VR::UN)
    } else {
        el.vr
    }
}

/// Decode an element of `ds` (a dataset of `file`).
pub fn decode(file: &DicomFile, ds: &DataSet, el: &Element) -> Result<Plain> {
    let big = file.transfer_syntax.big_endian;
    let read = |d: &Data| -> Result<Vec<u8>> {
        d.bytes(&file.source)
            .map(Cow::into_owned)
            .map_err(|e| Error::Io {
                name: file.name.clone(),
                op: "read a value",
                source: e,
            })
    };
    Ok(match &el.value {
        Value::Sequence(items) => Plain::Items(
            items
                .iter()
                .map(|item| {
                    item.elements
                        .iter()
                        .map(|e| Ok((tag_u32(e.tag), decode(file, item, e)?)))
                        .collect::<Result<Vec<_>>>()
                })
                .collect::<Result<Vec<_>>>()?,
        ),
        Value::Fragments(f) => Plain::Fragments(f.iter().map(read).collect::<Result<_>>()?),
        Value::Primitive(data) => {
            let bytes = read(data)?;
            let vr = value_vr(el);
            if is_text_vr(vr) {
                let t = trim_padding(&bytes);
                // LT, ST, UT keep leading spaces (they are significant there)
                let t = if single_text(vr) {
                    let end = bytes
                        .iter()
                        .rposition(|&b| b != b' ' && b != 0)
                        .map_or(0, |i| i + 1);
                    &bytes[..end]
                } else {
                    t
                };
                let text = decode_text(ds, t);
                if single_text(vr) {
                    Plain::Text(vec![text])
                } else {
                    Plain::Text(text.split('\\').map(|s| s.trim().to_string()).collect())
                }
            } else {
                match vr {
                    VR::US => Plain::Int(read_numbers(&bytes, big, |c: [u8; 2], b| {
                        (if b {
                            u16::from_be_bytes(c)
                        } else {
                            u16::from_le_bytes(c)
                        }) as i64
                    })),
                    VR::SS => Plain::Int(read_numbers(&bytes, big, |c: [u8; 2], b| {
                        (if b {
                            i16::from_be_bytes(c)
                        } else {
                            i16::from_le_bytes(c)
                        }) as i64
                    })),
                    VR::UL => Plain::Int(read_numbers(&bytes, big, |c: [u8; 4], b| {
                        (if b {
                            u32::from_be_bytes(c)
                        } else {
                            u32::from_le_bytes(c)
                        }) as i64
                    })),
                    VR::SL => Plain::Int(read_numbers(&bytes, big, |c: [u8; 4], b| {
                        (if b {
                            i32::from_be_bytes(c)
                        } else {
                            i32::from_le_bytes(c)
                        }) as i64
                    })),
                    VR::SV => Plain::Int(read_numbers(&bytes, big, |c: [u8; 8], b| {
                        if b {
                            i64::from_be_bytes(c)
                        } else {
                            i64::from_le_bytes(c)
                        }
                    })),
                    VR::UV => Plain::Int(read_numbers(&bytes, big, |c: [u8; 8], b| {
                        (if b {
                            u64::from_be_bytes(c)
                        } else {
                            u64::from_le_bytes(c)
                        }) as i64
                    })),
                    VR::FL => Plain::Float(read_numbers(&bytes, big, |c: [u8; 4], b| {
                        (if b {
                            f32::from_be_bytes(c)
                        } else {
                            f32::from_le_bytes(c)
                        }) as f64
                    })),
                    VR::FD => Plain::Float(read_numbers(&bytes, big, |c: [u8; 8], b| {
                        if b {
                            f64::from_be_bytes(c)
                        } else {
                            f64::from_le_bytes(c)
                        }
                    })),
                    VR::AT => Plain::Tags(read_numbers(&bytes, big, |c: [u8; 4], b| {
                        let (g, e) = if b {
                            (
                                u16::from_be_bytes([c[0], c[1]]),
                                u16::from_be_bytes([c[2], c[3]]),
                            )
                        } else {
                            (
                                u16::from_le_bytes([c[0], c[1]]),
                                u16::from_le_bytes([c[2], c[3]]),
                            )
                        };
                        ((g as u32) << 16) | e as u32
                    })),
                    _ => Plain::Bytes(bytes),
                }
            }
        }
    })
}

pub fn tag_u32(tag: Tag) -> u32 {
    ((tag.0 as u32) << 16) | tag.1 as u32
}

pub fn u32_tag(tag: u32) -> Tag {
    Tag((tag >> 16) as u16, tag as u16)
}

/// Build an element of `ds` from a plain value. `vr` defaults to the dictionary's.
pub fn encode(file: &DicomFile, tag: Tag, vr: Option<VR>, value: Plain) -> Result<Element> {
    let err = |problem: String| Error::Value {
        tag: tag_str(tag),
        problem,
    };
    let vr = match vr {
        Some(vr) => vr,
        None => file
            .dataset
            .get(tag)
            .map(|e| e.vr)
            .filter(|&vr| vr != VR::UN)
            .or_else(|| crate::dataset::dictionary_vr(tag))
            .ok_or_else(|| err("unknown tag: give its VR".into()))?,
    };
    let big = file.transfer_syntax.big_endian;
    macro_rules! pack {
        ($values:expr, $t:ty) => {{
            let mut out = Vec::new();
            for v in $values {
                let v = <$t>::try_from(v).map_err(|_| err(format!("{v} does not fit {vr:?}")))?;
                out.extend_from_slice(&if big {
                    v.to_be_bytes()
                } else {
                    v.to_le_bytes()
                });
            }
            out
        }};
    }
    let bytes = match (vr, value) {
        (VR::SQ, _) | (_, Plain::Items(_)) | (_, Plain::Fragments(_)) => {
            return Err(err(
                "sequences and pixel fragments cannot be set this way".into()
            ))
        }
        (vr, Plain::Text(values)) if is_text_vr(vr) => {
            if single_text(vr) && values.len() > 1 {
                return Err(err(format!("{vr:?} holds a single value")));
            }
            let mut out = Vec::new();
            for (i, v) in values.iter().enumerate() {
                if v.contains('\\') && !single_text(vr) {
                    return Err(err("a value cannot contain a backslash".into()));
                }
                if i > 0 {
                    out.push(b'\\');
                }
                out.extend(encode_text(&file.dataset, tag, v)?);
            }
            out
        }
        (VR::US, Plain::Int(v)) => pack!(v, u16),
        (VR::SS, Plain::Int(v)) => pack!(v, i16),
        (VR::UL, Plain::Int(v)) => pack!(v, u32),
        (VR::SL, Plain::Int(v)) => pack!(v, i32),
        (VR::SV, Plain::Int(v)) => pack!(v, i64),
        (VR::UV, Plain::Int(v)) => pack!(v, u64),
        (VR::AT, Plain::Tags(v)) => {
            return encode(
                file,
                tag,
                Some(vr),
                Plain::Int(v.into_iter().map(i64::from).collect()),
            )
        }
        (VR::AT, Plain::Int(v)) => {
            let mut out = Vec::new();
            for t in v {
                let t = u32::try_from(t).map_err(|_| err(format!("{t} is not a tag")))?;
                let (g, e) = ((t >> 16) as u16, t as u16);
                for x in [g, e] {
                    out.extend_from_slice(&if big {
                        x.to_be_bytes()
                    } else {
                        x.to_le_bytes()
                    });
                }
            }
            out
        }
        (VR::FL, Plain::Float(v)) => v
            .iter()
            .flat_map(|&x| {
                let x = x as f32;
                if big {
                    x.to_be_bytes()
                } else {
                    x.to_le_bytes()
                }
            })
            .collect(),
        (VR::FD, Plain::Float(v)) => v
            .iter()
            .flat_map(|&x| {
                if big {
                    x.to_be_bytes()
                } else {
                    x.to_le_bytes()
                }
            })
            .collect(),
        (VR::FL | VR::FD, Plain::Int(v)) => {
            return encode(
                file,
                tag,
                Some(vr),
                Plain::Float(v.into_iter().map(|x| x as f64).collect()),
            )
        }
        (VR::OB | VR::OW | VR::OF | VR::OD | VR::OL | VR::OV | VR::UN, Plain::Bytes(b)) => b,
        (vr, v) => {
            return Err(err(format!(
                "a value of this kind cannot be stored as {vr:?}: {}",
                match v {
                    Plain::Text(_) => "text",
                    Plain::Int(_) => "integer",
                    Plain::Float(_) => "float",
                    Plain::Tags(_) => "tag",
                    Plain::Bytes(_) => "bytes",
                    _ => "sequence",
                }
            )))
        }
    };
    Ok(Element::bytes(tag, vr, bytes))
}
