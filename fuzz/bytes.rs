//! Byte-level builders of DICOM files, shared by the fuzz targets and the Rust tests
//! (`tests/engine.rs`, `tests/robustness.rs`), which include this file with `#[path]`.
//! Explicit VR little endian unless said otherwise.
#![allow(dead_code)]

/// The start of a Part 10 file: preamble, `DICM` and a meta group naming `ts` (padded to
/// an even length).
pub fn head(ts: &str) -> Vec<u8> {
    let mut uid = ts.as_bytes().to_vec();
    if uid.len() % 2 == 1 {
        uid.push(0);
    }
    let mut meta = vec![0x02, 0x00, 0x10, 0x00, b'U', b'I'];
    meta.extend_from_slice(&(uid.len() as u16).to_le_bytes());
    meta.extend_from_slice(&uid);
    let mut out = vec![0u8; 128];
    out.extend_from_slice(b"DICM");
    out.extend_from_slice(&[0x02, 0x00, 0x00, 0x00, b'U', b'L', 4, 0]);
    out.extend_from_slice(&(meta.len() as u32).to_le_bytes());
    out.extend_from_slice(&meta);
    out
}

/// A Part 10 file of transfer syntax `ts` holding `dataset` (already encoded in it).
pub fn part10(ts: &str, dataset: &[u8]) -> Vec<u8> {
    let mut out = head(ts);
    out.extend_from_slice(dataset);
    out
}

/// A Part 10 file of the deflated explicit VR little endian syntax holding `dataset`.
pub fn deflated_part10(dataset: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::DeflateEncoder::new(
        head("1.2.840.10008.1.2.1.99"),
        flate2::Compression::fast(),
    );
    z.write_all(dataset).expect("in memory");
    z.finish().expect("in memory")
}

/// A tag's bytes.
pub fn tag(t: (u16, u16)) -> Vec<u8> {
    [t.0.to_le_bytes(), t.1.to_le_bytes()].concat()
}

/// An explicit VR element; VRs with a 32-bit length get one.
pub fn explicit(t: (u16, u16), vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
    let long = matches!(
        vr,
        b"OB"
            | b"OD"
            | b"OF"
            | b"OL"
            | b"OV"
            | b"OW"
            | b"SQ"
            | b"SV"
            | b"UC"
            | b"UN"
            | b"UR"
            | b"UT"
            | b"UV"
    );
    if long {
        return explicit_long(t, vr, value.len() as u32, value);
    }
    let mut v = tag(t);
    v.extend_from_slice(vr);
    v.extend_from_slice(&(value.len() as u16).to_le_bytes());
    v.extend_from_slice(value);
    v
}

/// An explicit VR element with a 32-bit length field holding `len` (which may be undefined,
/// or wrong on purpose), then `value`.
pub fn explicit_long(t: (u16, u16), vr: &[u8; 2], len: u32, value: &[u8]) -> Vec<u8> {
    let mut v = tag(t);
    v.extend_from_slice(vr);
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(&len.to_le_bytes());
    v.extend_from_slice(value);
    v
}

/// An implicit VR element (or item header) with `len` in its length field, then `value`.
pub fn implicit(t: (u16, u16), len: u32, value: &[u8]) -> Vec<u8> {
    let mut v = tag(t);
    v.extend_from_slice(&len.to_le_bytes());
    v.extend_from_slice(value);
    v
}

pub const ITEM: (u16, u16) = (0xFFFE, 0xE000);
pub const ITEM_UNDEFINED: [u8; 8] = [0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF];
pub const ITEM_END: [u8; 8] = [0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0];
pub const SEQ_END: [u8; 8] = [0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0];
pub const UNDEFINED: u32 = 0xFFFF_FFFF;
/// Explicit VR little endian.
pub const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
