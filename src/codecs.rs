//! Compressed frames decoded: for Clean Pixel Data on the syntaxes that are decoded, blanked
//! and written losslessly, and for the frame API ([`Frames`]).
//!
//! RLE Lossless, JPEG Lossless (Process 14 and its Selection Value 1), JPEG-LS and JPEG 2000
//! frames are decoded one at a time (RLE here, in [`crate::rle`]; JPEG and JPEG 2000 with
//! pure-Rust decoders through dicom-rs's registry adapters: jpeg-decoder, and jpeg2k on
//! openjp2, the Rust port of OpenJPEG; JPEG-LS with CharLS, the C++ reference library,
//! built into the extension), blanked with the native machinery ([`PixelEdit`]) on the
//! decoded layout, and written losslessly: RLE stays RLE (encoded again here), JPEG-LS stays
//! JPEG-LS (encoded again, lossless, by CharLS), the others become native Explicit VR Little
//! Endian. The decoded frames are native bytes whose layout may differ from the header's:
//! samples of a pixel together (Planar Configuration 0), and for JPEG 2000 with a multiple
//! component transform, RGB (YBR_RCT and YBR_ICT say how the stream was coded, not what it
//! decodes to); the header then says what the bytes are. A lossy source keeps Lossy Image
//! Compression "01" with its ratio and method. A frame that cannot be decoded refuses the
//! file. JPEG Baseline and 8-bit Extended frames are decoded for the frame API only (Clean
//! Pixel Data redacts them block by block, [`crate::encapsulated`]).
//!
//! Memory: one frame at a time. Native output is [`Data::Frames`]: each frame is decoded
//! and blanked when the writer reaches it. Encoded output (RLE, JPEG-LS) is spooled
//! ([`Spool`]) as it is made, since the Basic Offset Table written before the frames needs
//! their lengths.

use std::borrow::Cow;
use std::io::{self, Write};
use std::ops::Range;
use std::sync::Arc;

use dicom_core::VR;
use dicom_dictionary_std::{tags, uids};
use dicom_encoding::adapters::{PixelDataObject, RawPixelData};

use crate::dataset::{
    trim_padding, Data, DicomFile, Element, Source, Spool, TransferSyntax, Value,
};
use crate::pixels::{Layout, Photometric, PixelEdit};

/// The compressed syntaxes cleaned by decoding, by decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Rle,
    /// JPEG Baseline (.50) and Extended (.51), 8 bits: jpeg-decoder (the frame API only).
    Jpeg,
    /// JPEG Lossless, Process 14 (.57) and Selection Value 1 (.70): jpeg-decoder.
    JpegLossless,
    /// JPEG 2000 (Part 1 and 2, and High-Throughput): jpeg2k on openjp2.
    Jpeg2000,
    /// JPEG-LS lossless (.80) and near-lossless (.81): CharLS.
    JpegLs,
}

/// The family of a transfer syntax, if its frames can be decoded here.
pub fn family(uid: &str) -> Option<Family> {
    match uid {
        uids::RLE_LOSSLESS => Some(Family::Rle),
        uids::JPEG_BASELINE8_BIT | uids::JPEG_EXTENDED12_BIT => Some(Family::Jpeg),
        uids::JPEGLS_LOSSLESS | uids::JPEGLS_NEAR_LOSSLESS => Some(Family::JpegLs),
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
    /// JPEG-LS Lossless (.80), encoded again by CharLS.
    JpegLs,
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
    match family {
        Family::Jpeg2000 => {
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
        Family::JpegLs => {
            let first = first_fragment(file)?;
            let info = jls_info(&first).map_err(|e| format!("holds a frame that {e}"))?;
            if info.near > 0 {
                lossy = true;
                lossy_method = Some("ISO_14495_1");
            }
        }
        // decoded to RGB (the decoder's color transform), as every viewer shows them
        Family::Jpeg if header_photometric.starts_with("YBR") => photometric = Some("RGB"),
        _ => {}
    }
    let mut layout = Layout::header_as(file, photometric)
        .map_err(|e| e.replace("has native pixel data of", "has compressed pixel data of"))?;
    if matches!(layout.photometric, Photometric::Ybr422 { .. }) {
        return Err(format!(
            "has {} pixels in transfer syntax {uid}, which dicomveil does not decode",
            layout.photometric_name
        ));
    }
    let widths: &[u32] = match family {
        Family::Rle => &[8, 16, 32],
        Family::Jpeg => &[8],
        _ => &[8, 16],
    };
    if layout.float || !widths.contains(&layout.bits_allocated) {
        return Err(format!(
            "has {} bits allocated in transfer syntax {uid}, which dicomveil does not decode",
            layout.bits_allocated
        ));
    }
    layout.planar = false;
    layout.big_endian = false;
    layout.word_swap = false;
    Ok(Decoded {
        family,
        layout,
        output: match family {
            Family::Rle => Output::Rle,
            Family::JpegLs => Output::JpegLs,
            _ => Output::Native,
        },
        lossy,
        lossy_method,
    })
}

/// The layout of the frames the frame API hands out: the native pixel data's, or for
/// compressed pixel data that of its decoded frames ([`plan`]). An error says why there is
/// none (after "it").
pub fn frame_layout(file: &DicomFile) -> Result<Layout, String> {
    let uid = file.transfer_syntax.uid.as_str();
    if !file.transfer_syntax.encapsulated {
        return Layout::of(file);
    }
    if family(uid).is_none() {
        return Err(format!(
            "has compressed pixel data (transfer syntax {uid}), which dicomveil does not decode"
        ));
    }
    plan(file).map(|d| d.layout)
}

/// Frame `index` of compressed pixel data, decoded (only its fragments read), for the frame
/// API: signed samples of fewer bits than allocated are sign-extended (a codec gives them
/// as Bits Stored bits, nothing above). An error says why it cannot be (after "it").
pub fn decoded_frame(file: &DicomFile, index: u32) -> Result<Vec<u8>, String> {
    let d = plan(file)?;
    let l = d.layout.clone();
    let mut frame = Frames::new(file, d, None)?.frame(index as usize)?;
    if l.signed && l.bits_stored < l.bits_allocated && l.bits_stored > 0 {
        let shift = l.bits_allocated - l.bits_stored;
        match l.bits_allocated {
            8 => frame
                .iter_mut()
                .for_each(|b| *b = (((*b << shift) as i8) >> shift) as u8),
            16 => frame.chunks_exact_mut(2).for_each(|b| {
                let v = ((u16::from_le_bytes([b[0], b[1]]) << shift) as i16) >> shift;
                b.copy_from_slice(&v.to_le_bytes());
            }),
            32 => frame.chunks_exact_mut(4).for_each(|b| {
                let v = ((u32::from_le_bytes([b[0], b[1], b[2], b[3]]) << shift) as i32) >> shift;
                b.copy_from_slice(&v.to_le_bytes());
            }),
            _ => {}
        }
    }
    Ok(frame)
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

/// What the header of a JPEG-LS stream says (SOF55, the first SOS, LSE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct JlsInfo {
    width: u32,
    height: u32,
    components: u8,
    precision: u8,
    /// The NEAR parameter of the first scan: 0 is lossless.
    near: u8,
    /// The interleave mode of the first scan: 0 none (a scan per component), 1 line, 2 sample.
    ilv: u8,
}

/// Read a JPEG-LS stream's header up to its first scan. An error says what is wrong with it
/// (after "holds a frame that").
fn jls_info(data: &[u8]) -> Result<JlsInfo, String> {
    let bad = || "is not a JPEG-LS stream".to_string();
    if data.get(..2) != Some(&[0xFF, 0xD8]) {
        return Err(bad());
    }
    let mut at = 2;
    let mut info: Option<JlsInfo> = None;
    loop {
        while data.get(at) == Some(&0xFF) && data.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (data.get(at), data.get(at + 1)) else {
            return Err(bad());
        };
        let len = data
            .get(at + 2..at + 4)
            .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
            .ok_or_else(bad)?;
        let body = data.get(at + 4..at + 2 + len.max(2)).ok_or_else(bad)?;
        match marker {
            0xF7 => {
                let b = body.get(..6).ok_or_else(bad)?;
                info = Some(JlsInfo {
                    precision: b[0],
                    height: u16::from_be_bytes([b[1], b[2]]) as u32,
                    width: u16::from_be_bytes([b[3], b[4]]) as u32,
                    components: b[5],
                    near: 0,
                    ilv: 0,
                });
            }
            // LSE: a mapping table (ID 2) or its continuation (3)
            0xF8 if matches!(body.first(), Some(2 | 3)) => {
                return Err(
                    "is a JPEG-LS stream with a mapping table, which dicomveil does not decode"
                        .into(),
                )
            }
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                return Err("is a JPEG stream, not JPEG-LS".into())
            }
            0xDA => {
                let mut i = info.ok_or_else(bad)?;
                let ns = *body.first().ok_or_else(bad)? as usize;
                let tail = body.get(1 + 2 * ns..3 + 2 * ns).ok_or_else(bad)?;
                (i.near, i.ilv) = (tail[0], tail[1]);
                return Ok(i);
            }
            _ => {}
        }
        at += 2 + len.max(2);
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

/// Whether a JPEG stream's header says its three components are YCbCr: a JFIF APP0
/// segment, or an Adobe APP14 segment whose transform flag is 1.
fn jpeg_says_ycbcr(data: &[u8]) -> bool {
    let mut at = 2;
    while let (Some(&0xFF), Some(&marker)) = (data.get(at), data.get(at + 1)) {
        if marker == 0xFF {
            at += 1;
            continue;
        }
        let Some(len) = data
            .get(at + 2..at + 4)
            .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
        else {
            return false;
        };
        let body = data.get(at + 4..at + 2 + len.max(2)).unwrap_or_default();
        match marker {
            0xE0 if body.starts_with(b"JFIF\0") => return true,
            0xEE if body.starts_with(b"Adobe") && body.get(11) == Some(&1) => return true,
            0xDA => return false,
            _ => at += 2 + len.max(2),
        }
    }
    false
}

/// The compressed frames of a file, decoded one at a time to the native bytes of their
/// decoded layout (`decoded.layout`), and blanked by `edit` when there is one. Holds the
/// fragments' places, not their bytes: cheap to keep until the file is written.
#[derive(Debug, Clone)]
pub struct Frames {
    pub decoded: Decoded,
    uid: String,
    /// The header's photometric interpretation (the decoders' input).
    photometric: String,
    name: String,
    source: Source,
    fragments: Vec<Data>,
    /// The fragments of each frame.
    groups: Vec<Range<usize>>,
    edit: Option<PixelEdit>,
}

/// Frames are the same when they are the same object (nothing is decoded to compare them).
impl PartialEq for Frames {
    fn eq(&self, other: &Frames) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Eq for Frames {}

/// A frame that cannot be decoded, met while writing: the writer's `io::Error` carries it,
/// and it becomes a `PixelDataError` naming the file.
#[derive(Debug)]
pub struct FrameError {
    pub name: String,
    /// Why (after "it").
    pub problem: String,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: it {}", self.name, self.problem)
    }
}

impl std::error::Error for FrameError {}

impl Frames {
    /// The frames of `file` (encapsulated, its syntax of a [`family`], `decoded` its
    /// [`plan`]).
    pub fn new(
        file: &DicomFile,
        decoded: Decoded,
        edit: Option<PixelEdit>,
    ) -> Result<Frames, String> {
        let Some(Element {
            value: Value::Fragments(fragments),
            ..
        }) = file.dataset.get(tags::PIXEL_DATA)
        else {
            return Err("has no encapsulated pixel data".into());
        };
        let groups = crate::encapsulated::frame_fragments(file, fragments, decoded.layout.frames)?;
        Ok(Frames {
            uid: file.transfer_syntax.uid.clone(),
            photometric: file
                .dataset
                .text(tags::PHOTOMETRIC_INTERPRETATION)
                .map(|t| String::from_utf8_lossy(trim_padding(t)).into_owned())
                .unwrap_or_default(),
            name: file.name.clone(),
            source: file.source.clone(),
            fragments: fragments.clone(),
            groups,
            decoded,
            edit,
        })
    }

    /// The same frames, blanked by `edit` (of the decoded layout) after their own edit.
    pub fn with_edit(&self, mut edit: PixelEdit) -> Frames {
        edit.prior = self.edit.clone().map(Arc::new);
        Frames {
            edit: Some(edit),
            ..self.clone()
        }
    }

    /// How many frames.
    pub fn count(&self) -> usize {
        self.groups.len()
    }

    /// The bytes of one decoded frame.
    fn frame_len(&self) -> u64 {
        self.decoded.layout.frame_len()
    }

    /// The length of the native pixel data they decode to.
    pub fn native_len(&self) -> u64 {
        self.frame_len() * self.count() as u64
    }

    /// Frame `i` decoded (and blanked). An error says why it cannot be (after "it").
    pub fn frame(&self, i: usize) -> Result<Vec<u8>, String> {
        let range = self
            .groups
            .get(i)
            .ok_or_else(|| format!("has no frame {i} (it has {})", self.count()))?;
        let mut data = Vec::new();
        for f in &self.fragments[range.clone()] {
            let bytes = f
                .bytes(&self.source)
                .map_err(|e| format!("cannot be read: {e}"))?;
            data.extend_from_slice(&bytes);
        }
        let mut frame = self.decode(&data).map_err(|e| format!("{e} (frame {i})"))?;
        let frame_len = self.frame_len() as usize;
        if frame.len() != frame_len {
            return Err(format!(
                "holds frame {i} that decodes to {} bytes where its layout needs {frame_len}",
                frame.len()
            ));
        }
        if let Some(edit) = &self.edit {
            edit.apply(i as u64 * frame_len as u64, &mut frame);
        }
        Ok(frame)
    }

    /// Write every frame, decoded, one after the other (the native pixel data): one frame in
    /// memory at a time. A frame that does not decode is a [`FrameError`].
    pub fn write_native(&self, out: &mut dyn Write) -> io::Result<()> {
        for i in 0..self.count() {
            let frame = self.frame(i).map_err(|e| self.error(e))?;
            out.write_all(&frame)?;
        }
        Ok(())
    }

    fn error(&self, problem: String) -> io::Error {
        io::Error::other(FrameError {
            name: self.name.clone(),
            problem,
        })
    }

    /// Bytes `[start, start + len)` of the native pixel data: only the frames they fall in
    /// are decoded.
    pub fn read_part(&self, start: u64, len: u64) -> io::Result<Vec<u8>> {
        let fl = self.frame_len().max(1);
        let mut out = Vec::with_capacity(len as usize);
        let mut at = start;
        while at < start + len {
            let i = (at / fl) as usize;
            let frame = self.frame(i).map_err(|e| self.error(e))?;
            let from = (at - i as u64 * fl) as usize;
            let n = ((start + len - at) as usize).min(frame.len() - from);
            out.extend_from_slice(&frame[from..from + n]);
            at += n as u64;
        }
        Ok(out)
    }

    /// Decode one frame (its fragments joined) to the native bytes of the decoded layout.
    fn decode(&self, data: &[u8]) -> Result<Vec<u8>, String> {
        let d = &self.decoded;
        let l = &d.layout;
        let bytes = l.sample_bytes() as usize;
        let samples = l.samples as usize;
        match d.family {
            Family::Rle => return crate::rle::decode_frame(data, l.rows, l.cols, samples, bytes),
            Family::JpegLs => return decode_jpeg_ls(data, l),
            Family::Jpeg => return decode_jpeg(data, l, &self.photometric),
            _ => {}
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
            return Err(mismatch(l));
        }
        use dicom_encoding::TransferSyntaxIndex;
        use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
        let uid = self.uid.as_str();
        let reader = TransferSyntaxRegistry
            .get(uid)
            .and_then(|ts| ts.pixel_data_reader())
            .ok_or_else(|| format!("has transfer syntax {uid}, which has no decoder"))?;
        let frame = Frame {
            uid,
            layout: l,
            photometric: &self.photometric,
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
}

fn mismatch(l: &Layout) -> String {
    format!(
        "holds a frame whose stream does not match its {}x{} image of {} sample(s)",
        l.cols, l.rows, l.samples
    )
}

/// Decode a JPEG Baseline or Extended (8-bit) frame with jpeg-decoder: three components
/// labelled YBR become RGB (the decoder's transform); labelled RGB, they are taken as they
/// are unless a JFIF segment or Adobe's transform flag says they are YCbCr (as the block
/// redaction judges them).
fn decode_jpeg(data: &[u8], l: &Layout, photometric: &str) -> Result<Vec<u8>, String> {
    use jpeg_decoder::{ColorTransform, Decoder};
    if jpeg_size(data) != Some((l.cols, l.rows, l.samples as u8)) {
        return Err(mismatch(l));
    }
    let mut decoder = Decoder::new(data);
    if l.samples == 3 {
        // (ColorTransform::RGB takes the components as they are, pixel by pixel)
        decoder.set_color_transform(if photometric.starts_with("YBR") || jpeg_says_ycbcr(data) {
            ColorTransform::YCbCr
        } else {
            ColorTransform::RGB
        });
    }
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decoder.decode()))
        .map_err(|_| "holds a frame the decoder failed on".to_string())?
        .map_err(|e| format!("holds a frame that cannot be decoded ({e})"))
}

/// Decode a JPEG-LS frame with CharLS, to samples of a pixel together (a stream of one scan
/// per component decodes plane after plane: interleaved here).
fn decode_jpeg_ls(data: &[u8], l: &Layout) -> Result<Vec<u8>, String> {
    let info = jls_info(data).map_err(|e| format!("holds a frame that {e}"))?;
    if (info.width, info.height, info.components as u32) != (l.cols, l.rows, l.samples)
        || info.precision < 2
        || u32::from(info.precision) > l.bits_allocated
    {
        return Err(mismatch(l));
    }
    let mut out = charls::CharLS::default()
        .decode(data)
        .map_err(|e| format!("holds a frame that cannot be decoded ({e})"))?;
    if info.precision <= 8 && l.bits_allocated == 16 {
        // CharLS gives samples of up to 8 bits one byte each
        out = out.iter().flat_map(|&b| [b, 0]).collect();
    }
    if info.ilv != 0 || l.samples == 1 {
        return Ok(out);
    }
    let bytes = l.sample_bytes() as usize;
    let plane = l.pixels() as usize * bytes;
    let samples = l.samples as usize;
    if out.len() != plane * samples {
        return Ok(out); // the caller reports the length
    }
    let mut pixels = vec![0u8; out.len()];
    for (s, src) in out.chunks_exact(plane).enumerate() {
        for (p, sample) in src.chunks_exact(bytes).enumerate() {
            let at = (p * samples + s) * bytes;
            pixels[at..at + bytes].copy_from_slice(sample);
        }
    }
    Ok(pixels)
}

/// Encode a frame (native bytes of `l`, samples of a pixel together) as JPEG-LS lossless of
/// `precision` bits (the values are masked to them: a signed blank is sign-extended).
fn encode_jpeg_ls(frame: &[u8], l: &Layout, precision: u8) -> Result<Vec<u8>, String> {
    let mut charls = charls::CharLS::default();
    if l.samples > 1 {
        charls
            .set_interleave_mode(charls::InterleaveMode::Sample)
            .map_err(|e| format!("cannot be encoded as JPEG-LS ({e})"))?;
    }
    let info = charls::FrameInfo {
        width: l.cols,
        height: l.rows,
        bits_per_sample: i32::from(precision),
        component_count: l.samples as i32,
    };
    let masked;
    let src = if l.bits_allocated == 16 && precision <= 8 {
        // CharLS takes samples of up to 8 bits one byte each
        masked = frame
            .chunks_exact(2)
            .map(|b| b[0] & ((1u16 << precision) - 1) as u8)
            .collect::<Vec<u8>>();
        &masked[..]
    } else if l.bits_allocated == 16 && precision < 16 {
        let mask = (1u16 << precision) - 1;
        masked = frame
            .chunks_exact(2)
            .flat_map(|b| (u16::from_le_bytes([b[0], b[1]]) & mask).to_le_bytes())
            .collect::<Vec<u8>>();
        &masked[..]
    } else if l.bits_allocated == 8 && precision < 8 {
        let mask = (1u8 << precision) - 1;
        masked = frame.iter().map(|b| b & mask).collect();
        &masked[..]
    } else {
        frame
    };
    charls
        .encode(info, 0, src)
        .map_err(|e| format!("cannot be encoded as JPEG-LS ({e})"))
}

/// What was done to a file.
pub struct Done {
    pub frames: usize,
    pub output: Output,
}

/// Decode the frames of `file`, one at a time, apply `edit` (made for `d.layout`) and write
/// them as `d.output` says; the header follows (transfer syntax, photometric
/// interpretation, planar configuration, lossy compression). Native output is decoded when
/// it is written ([`Data::Frames`]); encoded output is made now, into a [`Spool`], so a frame
/// that does not decode refuses the file here.
pub fn rewrite(file: &mut DicomFile, d: &Decoded, edit: &PixelEdit) -> Result<Done, String> {
    let l = &d.layout;
    let frames = Frames::new(file, d.clone(), Some(edit.clone()))?;
    let count = frames.count();
    let value = match d.output {
        Output::Native => {
            let vr = if l.bits_allocated > 8 { VR::OW } else { VR::OB };
            (Value::Primitive(Data::Frames(Arc::new(frames))), vr)
        }
        Output::Rle | Output::JpegLs => {
            let precision = match d.output {
                Output::JpegLs => {
                    let first = first_fragment(file)?;
                    jls_info(&first)
                        .map_err(|e| format!("holds a frame that {e}"))?
                        .precision
                }
                _ => 0,
            };
            let mut spool = Spool::new();
            let spooled = |e: io::Error| format!("cannot be spooled: {e}");
            let mut places = Vec::with_capacity(count);
            for i in 0..count {
                let frame = frames.frame(i)?;
                let encoded = match d.output {
                    Output::Rle => crate::rle::encode_frame(
                        &frame,
                        l.rows,
                        l.cols,
                        l.samples as usize,
                        l.sample_bytes() as usize,
                    )?,
                    _ => encode_jpeg_ls(&frame, l, precision)?,
                };
                let at = spool.append(&encoded).map_err(spooled)?;
                places.push((at, encoded.len() as u64));
            }
            let from = spool.finish().map_err(spooled)?;
            let lengths: Vec<u64> = places.iter().map(|p| p.1).collect();
            let mut new = vec![Data::Inline(crate::encapsulated::offset_table(&lengths))];
            new.extend(places.into_iter().map(|(offset, len)| Data::Spooled {
                from: from.clone(),
                offset,
                len,
            }));
            (Value::Fragments(new), VR::OB)
        }
    };
    let ds = &mut file.dataset;
    ds.remove(tags::EXTENDED_OFFSET_TABLE);
    ds.remove(tags::EXTENDED_OFFSET_TABLE_LENGTHS);
    if let Some(el) = ds.get_mut(tags::PIXEL_DATA) {
        (el.value, el.vr) = value;
    }
    match d.output {
        Output::Native => {
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
        Output::JpegLs => {
            if l.samples > 1 {
                ds.put(Element::bytes(
                    tags::PLANAR_CONFIGURATION,
                    VR::US,
                    0u16.to_le_bytes().to_vec(),
                ));
            }
            file.transfer_syntax =
                TransferSyntax::from_uid(uids::JPEGLS_LOSSLESS).expect("registered");
        }
        Output::Rle => {}
    }
    Ok(Done {
        frames: count,
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
    fn jpeg_ls_header() {
        // SOI, SOF55 (8 bits, 4 rows, 6 columns, 1 component), SOS (NEAR 2, ILV 0)
        let s = [
            0xFF, 0xD8, 0xFF, 0xF7, 0, 11, 8, 0, 4, 0, 6, 1, 1, 0x11, 0, 0xFF, 0xDA, 0, 8, 1, 1, 0,
            2, 0, 0,
        ];
        let i = jls_info(&s).unwrap();
        assert_eq!((i.width, i.height, i.components, i.precision), (6, 4, 1, 8));
        assert_eq!((i.near, i.ilv), (2, 0));
        assert!(jls_info(&s[..20]).is_err());
        // a mapping table (LSE, ID 2) is refused
        let mut with_table = s[..15].to_vec();
        with_table.extend_from_slice(&[0xFF, 0xF8, 0, 5, 2, 1, 0]);
        with_table.extend_from_slice(&s[15..]);
        assert!(jls_info(&with_table).unwrap_err().contains("mapping table"));
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
