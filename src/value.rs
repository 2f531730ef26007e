//! Values as a caller sees them (text, numbers, bytes), decoded from and encoded to the raw
//! bytes of an element. Used for element access from Python; the engine itself never decodes.

use std::borrow::Cow;

use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::decode::basic::BasicDecoder;
use dicom_encoding::decode::BasicDecode;
use dicom_encoding::text::{SpecificCharacterSet, TextCodec};
use dicom_encoding::Endianness;

use crate::dataset::{is_text_vr, tag_str, trim_padding, Data, DataSet, DicomFile, Element, Value};
use crate::error::{Error, Result};

/// A decoded value.
#[derive(Debug, Clone, PartialEq)]
pub enum Plain {
    /// Text values (one per backslash-separated value; one for LT, ST, UT, UR).
    Text(Vec<String>),
    Int(Vec<i64>),
    /// Unsigned 64-bit integers (UV), which may exceed `i64::MAX`.
    UInt(Vec<u64>),
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

/// The whole values of `T` in `bytes` (trailing bytes that make no whole value are ignored),
/// decoded by `decode_into` (a [`BasicDecode`] `decode_*_into` method).
fn numbers<T: Copy + Default>(
    bytes: &[u8],
    decode_into: impl FnOnce(&[u8], &mut [T]) -> std::io::Result<()>,
) -> Vec<T> {
    let size = std::mem::size_of::<T>();
    let mut out = vec![T::default(); bytes.len() / size];
    decode_into(&bytes[..out.len() * size], &mut out).expect("the bytes hold these values");
    out
}

/// Numbers widened to the type of their [`Plain`] variant (lossless).
fn widen<T: Into<U>, U>(values: Vec<T>) -> Vec<U> {
    values.into_iter().map(Into::into).collect()
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
                let d = BasicDecoder::new(if big {
                    Endianness::Big
                } else {
                    Endianness::Little
                });
                match vr {
                    VR::US => Plain::Int(widen(numbers(&bytes, |s, t| d.decode_us_into(s, t)))),
                    VR::SS => Plain::Int(widen(numbers(&bytes, |s, t| d.decode_ss_into(s, t)))),
                    VR::UL => Plain::Int(widen(numbers(&bytes, |s, t| d.decode_ul_into(s, t)))),
                    VR::SL => Plain::Int(widen(numbers(&bytes, |s, t| d.decode_sl_into(s, t)))),
                    VR::SV => Plain::Int(numbers(&bytes, |s, t| d.decode_sv_into(s, t))),
                    VR::UV => Plain::UInt(numbers(&bytes, |s, t| d.decode_uv_into(s, t))),
                    VR::FL => Plain::Float(widen(numbers(&bytes, |s, t| d.decode_fl_into(s, t)))),
                    VR::FD => Plain::Float(numbers(&bytes, |s, t| d.decode_fd_into(s, t))),
                    // group then element, each a US (a lone trailing one is ignored)
                    VR::AT => Plain::Tags(
                        numbers(&bytes, |s, t| d.decode_us_into(s, t))
                            .chunks_exact(2)
                            .map(|ge| ((ge[0] as u32) << 16) | ge[1] as u32)
                            .collect(),
                    ),
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
        (VR::UV, Plain::UInt(v)) => pack!(v, u64),
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
                    Plain::Int(_) | Plain::UInt(_) => "integer",
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

#[cfg(test)]
mod tests {
    use super::*;

    fn file(big_endian: bool) -> DicomFile {
        crate::dataset::test_file(big_endian)
    }

    fn decoded(big_endian: bool, vr: VR, bytes: Vec<u8>) -> Plain {
        let f = file(big_endian);
        decode(
            &f,
            &f.dataset,
            &Element::bytes(Tag(0x0011, 0x1010), vr, bytes),
        )
        .unwrap()
    }

    /// `le` decoded in a little endian file and `be` in a big endian one both give `expected`.
    fn check(vr: VR, le: Vec<u8>, be: Vec<u8>, expected: Plain) {
        assert_eq!(decoded(false, vr, le), expected, "{vr:?} little endian");
        assert_eq!(decoded(true, vr, be), expected, "{vr:?} big endian");
    }

    macro_rules! bytes {
        ($values:expr, $order:ident) => {
            $values.iter().flat_map(|v| v.$order()).collect::<Vec<u8>>()
        };
    }

    macro_rules! check {
        ($vr:ident, $values:expr, $expected:expr) => {
            check(
                VR::$vr,
                bytes!($values, to_le_bytes),
                bytes!($values, to_be_bytes),
                $expected,
            )
        };
    }

    #[test]
    fn every_numeric_vr_in_both_byte_orders() {
        check!(
            US,
            [0u16, 0x1234, u16::MAX],
            Plain::Int(vec![0, 0x1234, 65535])
        );
        check!(
            SS,
            [i16::MIN, -1, 0x1234],
            Plain::Int(vec![-32768, -1, 0x1234])
        );
        check!(
            UL,
            [0u32, 0x1234_5678, u32::MAX],
            Plain::Int(vec![0, 0x1234_5678, 4_294_967_295])
        );
        check!(
            SL,
            [i32::MIN, -2, i32::MAX],
            Plain::Int(vec![-2_147_483_648, -2, 2_147_483_647])
        );
        check!(
            SV,
            [i64::MIN, -3, i64::MAX],
            Plain::Int(vec![i64::MIN, -3, i64::MAX])
        );
        check!(
            UV,
            [0u64, 1 << 63, u64::MAX],
            Plain::UInt(vec![
                0,
                9_223_372_036_854_775_808,
                18_446_744_073_709_551_615
            ])
        );
        check!(
            FL,
            [1.5f32, -0.25, f32::MAX],
            Plain::Float(vec![1.5, -0.25, f32::MAX as f64])
        );
        check!(
            FD,
            [1.5f64, -1e300, f64::MIN_POSITIVE],
            Plain::Float(vec![1.5, -1e300, f64::MIN_POSITIVE])
        );
        // AT: group then element, each in the file's byte order
        check!(
            AT,
            [0x0010u16, 0x0010, 0x7FE0, 0x0010],
            Plain::Tags(vec![0x0010_0010, 0x7FE0_0010])
        );
    }

    #[test]
    fn single_and_empty_values() {
        check!(US, [7u16], Plain::Int(vec![7]));
        check!(UV, [u64::MAX], Plain::UInt(vec![u64::MAX]));
        check!(SV, [-5i64], Plain::Int(vec![-5]));
        check(VR::FD, vec![], vec![], Plain::Float(vec![]));
        check(VR::AT, vec![], vec![], Plain::Tags(vec![]));
    }

    #[test]
    fn trailing_bytes_that_make_no_whole_value_are_ignored() {
        let mut le = bytes!([1u16], to_le_bytes);
        let mut be = bytes!([1u16], to_be_bytes);
        le.push(9);
        be.push(9);
        check(VR::US, le, be, Plain::Int(vec![1]));
        let mut le = bytes!([u64::MAX - 1], to_le_bytes);
        let mut be = bytes!([u64::MAX - 1], to_be_bytes);
        le.extend([1, 2, 3, 4, 5, 6, 7]);
        be.extend([1, 2, 3, 4, 5, 6, 7]);
        check(VR::UV, le, be, Plain::UInt(vec![u64::MAX - 1]));
        let mut le = bytes!([2.5f64], to_le_bytes);
        let mut be = bytes!([2.5f64], to_be_bytes);
        le.push(0);
        be.push(0);
        check(VR::FD, le, be, Plain::Float(vec![2.5]));
        check(VR::SL, vec![1, 2, 3], vec![1, 2, 3], Plain::Int(vec![]));
        let le = vec![0x10, 0x00, 0x20, 0x00, 0x08, 0x00];
        let be = vec![0x00, 0x10, 0x00, 0x20, 0x00, 0x08];
        check(VR::AT, le, be, Plain::Tags(vec![0x0010_0020]));
    }

    #[test]
    fn binary_vrs_keep_their_bytes_in_both_byte_orders() {
        let raw = vec![1, 2, 3, 4, 5];
        for vr in [VR::OB, VR::OW, VR::OF, VR::OD, VR::OL, VR::OV, VR::UN] {
            check(vr, raw.clone(), raw.clone(), Plain::Bytes(raw.clone()));
        }
    }

    #[test]
    fn uv_above_i64_max_round_trips() {
        for big_endian in [false, true] {
            let f = file(big_endian);
            let tag = Tag(0x0011, 0x1010);
            let values = vec![u64::MAX, 1 << 63, 0];
            let el = encode(&f, tag, Some(VR::UV), Plain::UInt(values.clone())).unwrap();
            assert_eq!(decode(&f, &f.dataset, &el).unwrap(), Plain::UInt(values));
            let el = encode(&f, tag, Some(VR::UV), Plain::Int(vec![5])).unwrap();
            assert_eq!(decode(&f, &f.dataset, &el).unwrap(), Plain::UInt(vec![5]));
        }
    }
}
