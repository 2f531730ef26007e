//! Clean Pixel Data on compressed syntaxes that are decoded, blanked and written losslessly.
//!
//! RLE Lossless, JPEG Lossless (Process 14 and its Selection Value 1) and JPEG 2000 frames
//! are decoded one at a time with pure-Rust decoders (RLE here, in [`crate::rle`]; JPEG and
//! JPEG 2000 through dicom-rs's registry adapters: jpeg-decoder, and jpeg2k on openjp2, the
//! Rust port of OpenJPEG), blanked with the native machinery ([`PixelEdit`]) on the decoded
//! layout, and written losslessly: RLE stays RLE (encoded again here), the others become
//! native Explicit VR Little Endian. The decoded frames are native bytes whose layout may
//! differ from the header's: samples of a pixel together (Planar Configuration 0), and for
//! JPEG 2000 with a multiple component transform, RGB (YBR_RCT and YBR_ICT say how the
//! stream was coded, not what it decodes to); the header then says what the bytes are. A
//! lossy source keeps Lossy Image Compression "01" with its ratio and method. A frame that
//! cannot be decoded refuses the file.
//!
//! Memory: frames are decoded one at a time, but the output frames are held until the file
//! is written: the RLE encoded frames, or the whole native pixel data.

use std::borrow::Cow;

use dicom_core::VR;
use dicom_dictionary_std::{tags, uids};
use dicom_encoding::adapters::{PixelDataObject, RawPixelData};

use crate::dataset::{trim_padding, Data, DicomFile, Element, TransferSyntax, Value};
use crate::pixels::{Layout, Photometric, PixelEdit};

/// The compressed syntaxes cleaned by decoding, by decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Rle,
    /// JPEG Lossless, Process 14 (.57) and Selection Value 1 (.70): jpeg-decoder.
    JpegLossless,
    /// JPEG 2000 (Part 1 and 2, and High-Throughput): jpeg2k on openjp2.
    Jpeg2000,
}

/// The family of a transfer syntax, if its frames can be decoded here.
pub fn family(uid: &str) -> Option<Family> {
    match uid {
        uids::RLE_LOSSLESS => Some(Family::Rle),
        uids::JPEG_LOSSLESS | uids::JPEG_LOSSLESS_SV1 => Some(Family::JpegLossless),
        uids::JPEG2000_LOSSLESS
        | uids::JPEG2000
        | uids::JPEG2000MC_LOSSLESS
        | uids::JPEG2000MC
        | uids::HTJ2K_LOSSLESS
        | uids::HTJ2K_LOSSLESS_RPCL
        | uids::HTJ2K => Some(Family::Jpeg2000),
        _ => None,
    }
}

/// How the cleaned frames are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// RLE Lossless, encoded again.
    Rle,
    /// Native Explicit VR Little Endian.
    Native,
}

/// What decoding a file gives: its family, the layout of the decoded frames and how they
/// are written.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub family: Family,
    pub layout: Layout,
    pub output: Output,
    /// The source is lossy (its header says so, or its JPEG 2000 stream is irreversible).
    pub lossy: bool,
    /// The method of a lossy compression the stream itself shows (irreversible JPEG 2000).
    pub lossy_method: Option<&'static str>,
}

/// Decide how `file` (encapsulated, its syntax of a [`family`]) is decoded: the layout of
/// the decoded frames. An error says why it cannot be.
pub fn plan(file: &DicomFile) -> Result<Decoded, String> {
    let uid = file.transfer_syntax.uid.as_str();
    let family = family(uid).ok_or_else(|| format!("has transfer syntax {uid}"))?;
    let ds = &file.dataset;
    let header_photometric = ds
        .text(tags::PHOTOMETRIC_INTERPRETATION)
        .map(|t| String::from_utf8_lossy(trim_padding(t)).into_owned())
        .unwrap_or_default();
    let mut lossy = ds
        .text(tags::LOSSY_IMAGE_COMPRESSION)
        .is_some_and(|v| trim_padding(v) == b"01");
    let mut photometric = None;
    let mut lossy_method = None;
    if family == Family::Jpeg2000 {
        let first = first_fragment(file)?;
        let info = j2k_info(&first).ok_or("holds a frame that is not a JPEG 2000 stream")?;
        lossy |= info.irreversible;
        if info.irreversible {
            lossy_method = Some("ISO_15444_1");
        }
        if matches!(header_photometric.as_str(), "YBR_RCT" | "YBR_ICT") {
            if !info.mct {
                return Err(format!(
                    "is labelled {header_photometric} but its JPEG 2000 stream has no \
                     component transform"
                ));
            }
            photometric = Some("RGB");
        }
    }
    let mut layout = Layout::header_as(file, photometric)
        .map_err(|e| e.replace("has native pixel data of", "has compressed pixel data of"))?;
    if matches!(layout.photometric, Photometric::Ybr422 { .. }) {
        return Err(format!(
            "has {} pixels in transfer syntax {uid}, which Clean Pixel Data does not decode",
            layout.photometric_name
        ));
    }
    let widths: &[u32] = match family {
        Family::Rle => &[8, 16, 32],
        _ => &[8, 16],
    };
    if layout.float || !widths.contains(&layout.bits_allocated) {
        return Err(format!(
            "has {} bits allocated in transfer syntax {uid}, which Clean Pixel Data does not \
             decode",
            layout.bits_allocated
        ));
    }
    layout.planar = false;
    layout.big_endian = false;
    layout.word_swap = false;
    Ok(Decoded {
        family,
        layout,
        output: if family == Family::Rle {
            Output::Rle
        } else {
            Output::Native
        },
        lossy,
        lossy_method,
    })
}

/// The first fragment of pixel data (past the offset table).
fn first_fragment(file: &DicomFile) -> Result<Vec<u8>, String> {
    match file.dataset.get(tags::PIXEL_DATA).map(|e| &e.value) {
        Some(Value::Fragments(f)) if f.len() > 1 => f[1]
            .bytes(&file.source)
            .map(|b| b.into_owned())
            .map_err(|e| format!("cannot be read: {e}")),
        _ => Err("has no fragment of pixel data".into()),
    }
}

/// What the main header of a JPEG 2000 codestream says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct J2kInfo {
    width: u32,
    height: u32,
    components: u16,
    /// Every component at full resolution.
    plain: bool,
    /// The most bits of a component.
    precision: u8,
    /// The multiple component transform is used (COD).
    mct: bool,
    /// The 9-7 irreversible wavelet (COD): lossy.
    irreversible: bool,
}

/// Read SIZ and COD of a codestream (bare, or in a JP2 file).
fn j2k_info(data: &[u8]) -> Option<J2kInfo> {
    let start = data
        .windows(4)
        .position(|w| w == [0xFF, 0x4F, 0xFF, 0x51])?;
    let mut at = start + 2;
    let be16 = |i: usize| data.get(i..i + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let be32 = |i: usize| {
        data.get(i..i + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let mut info: Option<J2kInfo> = None;
    loop {
        let marker = be16(at)?;
        if marker == 0xFF90 || marker == 0xFF93 {
            // the first tile: the main header is read
            return info.filter(|i| i.width > 0);
        }
        let len = be16(at + 2)? as usize;
        let body = at + 4;
        match marker {
            0xFF51 => {
                let (x, y, x0, y0) = (
                    be32(body + 2)?,
                    be32(body + 6)?,
                    be32(body + 10)?,
                    be32(body + 14)?,
                );
                let components = be16(body + 34)?;
                let comps = (0..components as usize)
                    .map(|c| data.get(body + 36 + 3 * c..body + 39 + 3 * c))
                    .collect::<Option<Vec<_>>>()?;
                let plain = comps.iter().all(|c| c[1] == 1 && c[2] == 1);
                let precision = comps.iter().map(|c| (c[0] & 0x7F) + 1).max().unwrap_or(0);
                info = Some(J2kInfo {
                    width: x.checked_sub(x0)?,
                    height: y.checked_sub(y0)?,
                    components,
                    plain,
                    precision,
                    mct: false,
                    irreversible: false,
                });
            }
            0xFF52 => {
                let i = info.as_mut()?;
                i.mct = *data.get(body + 4)? != 0;
                i.irreversible = *data.get(body + 9)? == 0;
            }
            _ => {}
        }
        at += 2 + len;
    }
}

/// The size of a JPEG stream's frame (SOF): width, height, components.
fn jpeg_size(data: &[u8]) -> Option<(u32, u32, u8)> {
    let mut at = 2;
    if data.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    loop {
        while *data.get(at)? == 0xFF && *data.get(at + 1)? == 0xFF {
            at += 1;
        }
        if *data.get(at)? != 0xFF {
            return None;
        }
        let marker = *data.get(at + 1)?;
        let len = u16::from_be_bytes([*data.get(at + 2)?, *data.get(at + 3)?]) as usize;
        if matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            let b = data.get(at + 4..at + 10)?;
            let h = u16::from_be_bytes([b[1], b[2]]) as u32;
            let w = u16::from_be_bytes([b[3], b[4]]) as u32;
            return Some((w, h, b[5]));
        }
        if marker == 0xDA {
            return None;
        }
        at += 2 + len;
    }
}

/// One frame of a file, for a registry decoder (a one-frame, one-fragment object).
struct Frame<'a> {
    uid: &'a str,
    layout: &'a Layout,
    /// The header's photometric interpretation (the decoder's input).
    photometric: &'a str,
    data: &'a [u8],
}

impl PixelDataObject for Frame<'_> {
    fn transfer_syntax_uid(&self) -> &str {
        self.uid
    }
    fn rows(&self) -> Option<u16> {
        u16::try_from(self.layout.rows).ok()
    }
    fn cols(&self) -> Option<u16> {
        u16::try_from(self.layout.cols).ok()
    }
    fn samples_per_pixel(&self) -> Option<u16> {
        Some(self.layout.samples as u16)
    }
    fn bits_allocated(&self) -> Option<u16> {
        Some(self.layout.bits_allocated as u16)
    }
    fn bits_stored(&self) -> Option<u16> {
        Some(self.layout.bits_stored as u16)
    }
    fn photometric_interpretation(&self) -> Option<&str> {
        Some(self.photometric)
    }
    fn number_of_frames(&self) -> Option<u32> {
        Some(1)
    }
    fn number_of_fragments(&self) -> Option<u32> {
        Some(1)
    }
    fn fragment(&self, fragment: usize) -> Option<Cow<'_, [u8]>> {
        (fragment == 0).then_some(Cow::Borrowed(self.data))
    }
    fn offset_table(&self) -> Option<Cow<'_, [u32]>> {
        Some(Cow::Borrowed(&[]))
    }
    fn raw_pixel_data(&self) -> Option<RawPixelData> {
        Some(RawPixelData {
            fragments: std::iter::once(self.data.to_vec()).collect(),
            offset_table: Default::default(),
        })
    }
}

/// Decode one frame (its fragments joined) to the native bytes of `d.layout`.
fn decode_frame(file: &DicomFile, d: &Decoded, data: &[u8]) -> Result<Vec<u8>, String> {
    let l = &d.layout;
    let bytes = l.sample_bytes() as usize;
    let samples = l.samples as usize;
    if d.family == Family::Rle {
        return crate::rle::decode_frame(data, l.rows, l.cols, samples, bytes);
    }
    // the decoders write where the header says, unchecked: the stream must fit it
    let fits = match d.family {
        Family::Jpeg2000 => j2k_info(data).is_some_and(|i| {
            i.width == l.cols
                && i.height == l.rows
                && i.components as u32 == l.samples
                && i.plain
                && u32::from(i.precision) <= l.bits_allocated
        }),
        _ => jpeg_size(data) == Some((l.cols, l.rows, l.samples as u8)),
    };
    if !fits {
        return Err(format!(
            "holds a frame whose stream does not match its {}x{} image of {} sample(s)",
            l.cols, l.rows, l.samples
        ));
    }
    use dicom_encoding::TransferSyntaxIndex;
    use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
    let uid = file.transfer_syntax.uid.as_str();
    let reader = TransferSyntaxRegistry
        .get(uid)
        .and_then(|ts| ts.pixel_data_reader())
        .ok_or_else(|| format!("has transfer syntax {uid}, which has no decoder"))?;
    let photometric = file
        .dataset
        .text(tags::PHOTOMETRIC_INTERPRETATION)
        .map(|t| String::from_utf8_lossy(trim_padding(t)).into_owned())
        .unwrap_or_default();
    let frame = Frame {
        uid,
        layout: l,
        photometric: &photometric,
        data,
    };
    let mut out = Vec::new();
    // a decoder that panics on a malformed stream refuses the file, like one that fails
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        reader.decode_frame(&frame, 0, &mut out)
    }))
    .map_err(|_| "holds a frame the decoder failed on".to_string())?
    .map_err(|e| format!("holds a frame that cannot be decoded ({e})"))?;
    // jpeg-decoder gives samples of more than 8 bits in the machine's byte order
    if cfg!(target_endian = "big") && d.family == Family::JpegLossless && bytes == 2 {
        for pair in out.chunks_exact_mut(2) {
            pair.swap(0, 1);
        }
    }
    Ok(out)
}

/// What was done to a file.
pub struct Done {
    pub frames: usize,
    pub output: Output,
}

/// Decode the frames of `file`, one at a time, apply `edit` (made for `d.layout`) and write
/// them as `d.output` says; the header follows (transfer syntax, photometric
/// interpretation, planar configuration, lossy compression).
pub fn rewrite(file: &mut DicomFile, d: &Decoded, edit: &PixelEdit) -> Result<Done, String> {
    let l = &d.layout;
    let Some(Element {
        value: Value::Fragments(fragments),
        ..
    }) = file.dataset.get(tags::PIXEL_DATA)
    else {
        return Err("has no encapsulated pixel data".into());
    };
    let groups = crate::encapsulated::frame_fragments(file, fragments, l.frames)?;
    let frame_len = l.frame_len() as usize;
    let mut native: Vec<u8> = Vec::new();
    let mut encoded: Vec<Vec<u8>> = Vec::new();
    for (i, range) in groups.into_iter().enumerate() {
        let mut data = Vec::new();
        for f in &fragments[range] {
            let bytes = f
                .bytes(&file.source)
                .map_err(|e| format!("cannot be read: {e}"))?;
            data.extend_from_slice(&bytes);
        }
        let mut frame = decode_frame(file, d, &data).map_err(|e| format!("{e} (frame {i})"))?;
        if frame.len() != frame_len {
            return Err(format!(
                "holds frame {i} that decodes to {} bytes where its layout needs {frame_len}",
                frame.len()
            ));
        }
        edit.apply((i * frame_len) as u64, &mut frame);
        match d.output {
            Output::Native => native.extend_from_slice(&frame),
            Output::Rle => encoded.push(crate::rle::encode_frame(
                &frame,
                l.rows,
                l.cols,
                l.samples as usize,
                l.sample_bytes() as usize,
            )?),
        }
    }
    let frames = encoded.len().max(native.len() / frame_len.max(1));
    let ds = &mut file.dataset;
    ds.remove(tags::EXTENDED_OFFSET_TABLE);
    ds.remove(tags::EXTENDED_OFFSET_TABLE_LENGTHS);
    let value = match d.output {
        Output::Rle => {
            let mut new = vec![Data::Inline(crate::encapsulated::offset_table(&encoded))];
            new.extend(encoded.into_iter().map(Data::Inline));
            (Value::Fragments(new), VR::OB)
        }
        Output::Native => {
            let vr = if l.bits_allocated > 8 { VR::OW } else { VR::OB };
            (Value::Primitive(Data::Inline(native)), vr)
        }
    };
    if let Some(el) = ds.get_mut(tags::PIXEL_DATA) {
        (el.value, el.vr) = value;
    }
    if d.output == Output::Native {
        ds.put(Element::text(
            tags::PHOTOMETRIC_INTERPRETATION,
            VR::CS,
            &[&l.photometric_name],
        ));
        if l.samples > 1 {
            ds.put(Element::bytes(
                tags::PLANAR_CONFIGURATION,
                VR::US,
                0u16.to_le_bytes().to_vec(),
            ));
        }
        file.transfer_syntax =
            TransferSyntax::from_uid(uids::EXPLICIT_VR_LITTLE_ENDIAN).expect("registered");
    }
    Ok(Done {
        frames,
        output: d.output,
    })
}

/// The lossy compression attributes of a file (before the profile): restored after it when a
/// lossy source is written again, so the output never looks lossless.
pub fn lossy_attributes(file: &DicomFile) -> Vec<Element> {
    [
        tags::LOSSY_IMAGE_COMPRESSION,
        tags::LOSSY_IMAGE_COMPRESSION_RATIO,
        tags::LOSSY_IMAGE_COMPRESSION_METHOD,
    ]
    .iter()
    .filter_map(|&t| file.dataset.get(t).cloned())
    .filter(|e| e.inline_bytes().is_some())
    .collect()
}

/// Mark `file` as lossy: Lossy Image Compression "01", its ratio and method as the source had
/// them (`kept`, restored if the profile removed them), and the method the stream shows
/// (`method`) when the source named none.
pub fn mark_lossy(file: &mut DicomFile, kept: &[Element], method: Option<&str>) {
    let ds = &mut file.dataset;
    for el in kept {
        if ds.get(el.tag).is_none() {
            ds.put(el.clone());
        }
    }
    ds.put(Element::text(
        tags::LOSSY_IMAGE_COMPRESSION,
        VR::CS,
        &["01"],
    ));
    if let (Some(method), None) = (method, ds.get(tags::LOSSY_IMAGE_COMPRESSION_METHOD)) {
        ds.put(Element::text(
            tags::LOSSY_IMAGE_COMPRESSION_METHOD,
            VR::CS,
            &[method],
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn j2k_main_header() {
        // SOC, SIZ (64x32, 3 components of 8 bits), COD (MCT on, 5-3 reversible), SOT
        let mut s = vec![0xFF, 0x4F, 0xFF, 0x51, 0, 47, 0, 0];
        for v in [64u32, 32, 0, 0, 64, 32, 0, 0] {
            s.extend_from_slice(&v.to_be_bytes());
        }
        s.extend_from_slice(&3u16.to_be_bytes());
        for _ in 0..3 {
            s.extend_from_slice(&[7, 1, 1]);
        }
        s.extend_from_slice(&[0xFF, 0x52, 0, 12, 0, 0, 0, 1, 1, 5, 4, 4, 0, 1]);
        s.extend_from_slice(&[0xFF, 0x90, 0, 10]);
        let i = j2k_info(&s).unwrap();
        assert_eq!((i.width, i.height, i.components), (64, 32, 3));
        assert!(i.plain && i.mct && !i.irreversible);
        assert_eq!(i.precision, 8);
        let n = s.len();
        s[n - 5] = 0;
        assert!(j2k_info(&s).unwrap().irreversible);
        assert!(j2k_info(&s[..20]).is_none());
    }

    #[test]
    fn jpeg_frame_size() {
        let s = [
            0xFF, 0xD8, 0xFF, 0xC3, 0, 11, 8, 0, 4, 0, 6, 1, 1, 0x11, 0, 0xFF, 0xDA,
        ];
        assert_eq!(jpeg_size(&s), Some((6, 4, 1)));
        assert_eq!(jpeg_size(&s[2..]), None);
    }
}
