//! Block-selective redaction of a baseline JPEG stream, in the compressed domain.
//!
//! As in Clunie and Gebow ("Block selective redaction for minimizing loss during
//! de-identification of burned in text in irreversibly compressed JPEG medical images", JMI
//! 2015) and CTP: the entropy-coded data is decoded to the level of Huffman symbols, only the
//! MCUs that touch a region are replaced by blocks that decode to black (every AC coefficient 0,
//! the DC coefficient chosen for black), and the scan is coded again. Every other block keeps
//! its exact coefficients (its bits are copied as they were), so nothing outside the replaced
//! MCUs changes after decoding. No IDCT is ever run.
//!
//! Supported: SOF0 (baseline) and SOF1 (extended sequential, Huffman) with 8-bit samples, and
//! SOF1 with 12-bit samples (DC difference categories up to 15, AC up to 14), 1 to 4
//! components, any sampling factors, interleaved and non-interleaved scans (a frame coded as
//! one scan per component is fine), restart intervals, byte stuffing, fill bytes, images whose
//! size is not a multiple of the MCU. Refused with a [`JpegError`] naming the reason:
//! progressive (SOF2), lossless (SOF3), hierarchical (SOF5-7, DHP, EXP), arithmetic coding
//! (SOF9-15, DAC), other precisions, DNL, a component coded in two scans, a scan header that is
//! not a sequential scan's, and malformed streams (truncated scan, bad Huffman code, missing
//! tables) where they are decoded (see below). Every marker segment that is not a scan (APPn,
//! COM, DQT, DHT, DRI) is copied unchanged; note that this copies an Exif or JFXX thumbnail
//! too: see [`FrameInfo::app_markers`].
//!
//! # Only what changes is coded
//! A restart interval (or a scan without restart markers) with no replaced MCU is copied as
//! it is. In one that has some, the MCUs before the first replaced one are decoded (for the DC
//! predictors and the bit position) and their bits copied; from the first replaced MCU to the
//! first MCU after the last replaced one in which every component has had a kept block (whose
//! DC difference is coded again: after it the predictors agree with the source's), blocks
//! are written; the rest is copied. It is copied as bytes when the output is at the source's
//! bit alignment there: to get it, up to three ZRL symbols (16 zero coefficients each) go
//! before the EOB of replaced blocks, which decode to the same block (T.81 F.2.2.2: ZRL
//! advances 16 positions, EOB ends the block). When no combination reaches it, the rest is
//! decoded to find its last bit and copied shifted. The bits after the last changed block are
//! not decoded when they are copied as bytes, so a defect there stays as it was in the source
//! (it cannot move a block into the replaced units). [`Scan::fast`] does this; the whole scan
//! is decoded and coded again ([`Scan::walk`]) when the stream's tables lack a code.
//!
//! # The unit of replacement
//! The replacement unit is the MCU of the interleaved frame: 8*Hmax x 8*Vmax pixels (8x8 for a
//! single-component frame, whatever its declared sampling factors). A unit is replaced when any
//! of its pixels (full-resolution coordinates, clipped to the image) falls in a region; then
//! every block of every component in it is replaced, also when the frame is coded as one scan
//! per component, so a replaced unit is black in every component.
//!
//! # Black
//! The DC coefficient of a replaced block of a component that must be black is the value of
//! smallest magnitude whose dequantized value reaches black: `DC = -ceil(1024 / Q[0])`, so that
//! `DC * Q[0] / 8 + 128 <= 0` and a decoder clamps to exactly 0 (rounding `-1024 / Q[0]` to the
//! nearest instead can leave 0.5, which a decoder may round up to 1); for white (MONOCHROME1)
//! `DC = ceil(1016 / Q[0])`. Chroma (Cb, Cr) gets DC 0, i.e. 128. With 12-bit samples the level
//! shift is 2048: `-ceil(16384 / Q[0])` and `ceil(16376 / Q[0])`. See [`BlackLevel`].
//!
//! # When the stream's Huffman tables lack a code
//! A replaced block needs the DC difference category of `black - previous` and the EOB symbol,
//! and the first kept block after a run of replaced ones needs the category of `own DC - black`:
//! that block's DC is its own and cannot be moved, so choosing a "nearest codable black" cannot
//! always work (an optimized table may simply not have the category the way back needs). So the
//! scan is first coded with the stream's own tables (the usual case, and always so with the
//! tables of Annex K, which every encoder uses unless asked to optimize); if a code is missing,
//! optimal tables are built for the whole scan (the procedure of Annex K.2, as libjpeg's
//! `optimize_coding`), written in a DHT segment just before the scan's SOS, and the original
//! tables are defined again right after the scan when more of the stream follows, so any later
//! scan decodes with the tables it was coded with. The coefficients of kept blocks are the same
//! either way; only their bits change. [`Redacted::tables_rebuilt`] says when this happened.

use std::fmt;

pub use crate::pixels::Rect;

/// Why a stream cannot be redacted (or parsed): a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JpegError(pub String);

impl fmt::Display for JpegError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for JpegError {}

type Result<T> = std::result::Result<T, JpegError>;

fn fail<T>(msg: impl Into<String>) -> Result<T> {
    Err(JpegError(msg.into()))
}

/// What "black" is for this image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlackLevel {
    /// The first component is luma (or grayscale) at 0, the others chroma at 128: YCbCr and
    /// MONOCHROME2.
    Luma0,
    /// Every component at 0: components stored as RGB (Adobe transform 0, or a DICOM RGB
    /// stream with no color transform).
    Rgb0,
    /// The first component at its maximum (MONOCHROME1), the others at 128.
    Max,
}

/// One component of the frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComponentInfo {
    pub id: u8,
    pub h: u8,
    pub v: u8,
    pub tq: u8,
}

/// What the marker segments of a stream say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameInfo {
    /// The SOFn marker, 0xC0 to 0xCF.
    pub sof: u8,
    pub precision: u8,
    pub width: u32,
    pub height: u32,
    pub components: Vec<ComponentInfo>,
    pub progressive: bool,
    pub arithmetic: bool,
    pub lossless: bool,
    pub hierarchical: bool,
    /// The restart interval (DRI) in effect at the first scan, 0 for none.
    pub restart_interval: u16,
    /// The transform byte of an Adobe APP14 segment.
    pub adobe_transform: Option<u8>,
    /// A JFIF APP0 segment is present.
    pub jfif: bool,
    /// The n of every APPn segment, in stream order (APP1 may hold an Exif thumbnail, APP0 a
    /// JFXX thumbnail: both are copied by [`redact_frame`], unredacted).
    pub app_markers: Vec<u8>,
    pub scans: usize,
}

impl FrameInfo {
    /// Whether a decoder takes three components as RGB rather than YCbCr, by libjpeg's rule:
    /// JFIF means YCbCr; else an Adobe segment decides (transform 0 is RGB); else component ids
    /// 'R', 'G', 'B' mean RGB; else YCbCr.
    pub fn stored_as_rgb(&self) -> bool {
        if self.components.len() != 3 || self.jfif {
            return false;
        }
        if let Some(t) = self.adobe_transform {
            return t == 0;
        }
        let ids: Vec<u8> = self.components.iter().map(|c| c.id).collect();
        ids == [b'R', b'G', b'B']
    }
}

/// A redacted stream and what was done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    pub data: Vec<u8>,
    /// Units (MCUs of the interleaved frame) replaced.
    pub mcus_replaced: usize,
    pub mcus_total: usize,
    /// The stream's Huffman tables lacked a code the replaced blocks needed, so the tables of at
    /// least one scan were rebuilt (see the module documentation).
    pub tables_rebuilt: bool,
}

// ---------------------------------------------------------------------------------------------
// Marker segments

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;
const DQT: u8 = 0xDB;
const DNL: u8 = 0xDC;
const DRI: u8 = 0xDD;
const DHT: u8 = 0xC4;
const DAC: u8 = 0xCC;

/// A marker and, for those that have one, its segment.
struct Segment<'a> {
    marker: u8,
    /// Offset of the first 0xFF (fill bytes included).
    start: usize,
    /// Offset just past the segment.
    end: usize,
    /// The bytes after the length field.
    body: &'a [u8],
}

fn has_length(marker: u8) -> bool {
    !matches!(marker, SOI | EOI | 0xD0..=0xD7 | 0x01)
}

/// The marker segment at `pos`; `None` at the end of the data.
fn segment_at(data: &[u8], pos: usize) -> Result<Option<Segment<'_>>> {
    if pos >= data.len() {
        return Ok(None);
    }
    if data[pos] != 0xFF {
        return fail(format!(
            "expected a marker at byte {pos}, found 0x{:02X}",
            data[pos]
        ));
    }
    let mut p = pos;
    while p < data.len() && data[p] == 0xFF {
        p += 1;
    }
    let Some(&marker) = data.get(p) else {
        return fail(format!("truncated marker at byte {pos}"));
    };
    if marker == 0 {
        return fail(format!(
            "stuffed byte where a marker was expected at byte {pos}"
        ));
    }
    p += 1;
    if !has_length(marker) {
        return Ok(Some(Segment {
            marker,
            start: pos,
            end: p,
            body: &[],
        }));
    }
    if p + 2 > data.len() {
        return fail(format!(
            "truncated marker segment 0xFF{marker:02X} at byte {pos}"
        ));
    }
    let len = usize::from(u16::from_be_bytes([data[p], data[p + 1]]));
    if len < 2 || p + len > data.len() {
        return fail(format!(
            "marker segment 0xFF{marker:02X} at byte {pos} has length {len}, past the end of the data"
        ));
    }
    Ok(Some(Segment {
        marker,
        start: pos,
        end: p + len,
        body: &data[p + 2..p + len],
    }))
}

/// Offset of the first marker after entropy-coded data starting at `pos` (RSTn included in
/// the data), or the end of the data.
fn skip_entropy_coded(data: &[u8], mut pos: usize) -> usize {
    while let Some(i) = memchr::memchr(0xFF, data.get(pos..).unwrap_or(&[])) {
        let at = pos + i;
        match data.get(at + 1) {
            None => return data.len(),
            Some(&next) if next == 0 || (0xD0..=0xD7).contains(&next) => pos = at + 2,
            Some(&0xFF) => pos = at + 1,
            Some(_) => return at,
        }
    }
    data.len()
}

fn sof_refusal(marker: u8) -> Option<String> {
    let what = match marker {
        0xC2 => "progressive JPEG (SOF2)".to_string(),
        0xC3 => "lossless JPEG (SOF3)".to_string(),
        0xC5..=0xC7 => format!("hierarchical JPEG (SOF{})", marker - 0xC0),
        0xC9..=0xCB | 0xCD..=0xCF => format!("arithmetic coding (SOF{})", marker - 0xC0),
        DAC => "arithmetic coding (DAC segment)".to_string(),
        0xDE => "hierarchical JPEG (DHP segment)".to_string(),
        0xDF => "hierarchical JPEG (EXP segment)".to_string(),
        _ => return None,
    };
    Some(format!("{what} cannot be redacted block by block"))
}

fn is_sof(marker: u8) -> bool {
    matches!(marker, 0xC0..=0xCF) && !matches!(marker, DHT | 0xC8 | DAC)
}

fn parse_frame(marker: u8, body: &[u8], start: usize) -> Result<FrameInfo> {
    if body.len() < 6 {
        return fail(format!("frame header at byte {start} is too short"));
    }
    let precision = body[0];
    let height = u32::from(u16::from_be_bytes([body[1], body[2]]));
    let width = u32::from(u16::from_be_bytes([body[3], body[4]]));
    let n = usize::from(body[5]);
    if n == 0 || body.len() < 6 + 3 * n {
        return fail(format!(
            "frame header at byte {start} declares {n} components in {} bytes",
            body.len()
        ));
    }
    let mut components = Vec::with_capacity(n);
    for c in body[6..6 + 3 * n].chunks_exact(3) {
        let (h, v) = (c[1] >> 4, c[1] & 15);
        if !(1..=4).contains(&h) || !(1..=4).contains(&v) {
            return fail(format!(
                "component {} has sampling factors {h}x{v} (1 to 4 allowed)",
                c[0]
            ));
        }
        components.push(ComponentInfo {
            id: c[0],
            h,
            v,
            tq: c[2],
        });
    }
    Ok(FrameInfo {
        sof: marker,
        precision,
        width,
        height,
        components,
        progressive: matches!(marker, 0xC2 | 0xC6 | 0xCA | 0xCE),
        arithmetic: marker >= 0xC9,
        lossless: matches!(marker, 0xC3 | 0xC7 | 0xCB | 0xCF),
        hierarchical: matches!(marker, 0xC5..=0xC7 | 0xCD..=0xCF),
        restart_interval: 0,
        adobe_transform: None,
        jfif: false,
        app_markers: Vec::new(),
        scans: 0,
    })
}

fn parse_dri(body: &[u8], start: usize) -> Result<u16> {
    if body.len() != 2 {
        return fail(format!("DRI segment at byte {start} has a bad length"));
    }
    Ok(u16::from_be_bytes([body[0], body[1]]))
}

fn check_soi(data: &[u8]) -> Result<()> {
    if data.len() < 2 || data[0] != 0xFF || data[1] != SOI {
        return fail("not a JPEG stream: no SOI marker at byte 0");
    }
    Ok(())
}

/// The frame header and what the other marker segments say, without decoding any scan.
pub fn frame_info(jpeg: &[u8]) -> Result<FrameInfo> {
    check_soi(jpeg)?;
    let mut frame: Option<FrameInfo> = None;
    let (mut restart, mut adobe, mut jfif, mut apps, mut scans) = (0u16, None, false, vec![], 0);
    let mut restart_at_first_scan = None;
    let mut pos = 2;
    while let Some(seg) = segment_at(jpeg, pos)? {
        pos = seg.end;
        match seg.marker {
            EOI => break,
            m if is_sof(m) => {
                if frame.is_some() {
                    return fail(format!("a second frame header at byte {}", seg.start));
                }
                frame = Some(parse_frame(m, seg.body, seg.start)?);
            }
            DRI => restart = parse_dri(seg.body, seg.start)?,
            0xE0..=0xEF => {
                let n = seg.marker - 0xE0;
                apps.push(n);
                if n == 0 && seg.body.starts_with(b"JFIF\0") {
                    jfif = true;
                }
                if n == 14 && seg.body.len() >= 12 && seg.body.starts_with(b"Adobe") {
                    adobe = Some(seg.body[11]);
                }
            }
            SOS => {
                scans += 1;
                restart_at_first_scan.get_or_insert(restart);
                pos = skip_entropy_coded(jpeg, seg.end);
            }
            _ => {}
        }
    }
    let Some(mut info) = frame else {
        return fail("no frame header (SOFn) in the stream");
    };
    info.restart_interval = restart_at_first_scan.unwrap_or(restart);
    info.adobe_transform = adobe;
    info.jfif = jfif;
    info.app_markers = apps;
    info.scans = scans;
    Ok(info)
}

// ---------------------------------------------------------------------------------------------
// Huffman tables

/// A table as a DHT segment defines it.
#[derive(Clone)]
struct HuffSpec {
    /// Number of codes of each length 1..=16 (index 0 unused).
    bits: [u8; 17],
    vals: Vec<u8>,
}

/// Decoding: a 9-bit lookup, then the canonical code ranges of Annex F.2.2.3.
struct HuffDecode {
    /// (length << 8) | symbol for codes of at most 9 bits; 0 when longer.
    lookup: Vec<u16>,
    maxcode: [i32; 17],
    mincode: [i32; 17],
    valptr: [i32; 17],
    vals: Vec<u8>,
}

const LOOKUP_BITS: u32 = 9;

/// Encoding: the code and its length for each symbol (length 0: absent).
#[derive(Clone)]
struct HuffEncode {
    code: [u16; 256],
    len: [u8; 256],
}

impl HuffSpec {
    fn parse(body: &[u8], start: usize) -> Result<Vec<(u8, u8, HuffSpec)>> {
        let mut tables = vec![];
        let mut p = 0;
        while p < body.len() {
            if p + 17 > body.len() {
                return fail(format!("truncated DHT segment at byte {start}"));
            }
            let (class, id) = (body[p] >> 4, body[p] & 15);
            if class > 1 || id > 3 {
                return fail(format!(
                    "DHT segment at byte {start} defines table class {class} id {id}"
                ));
            }
            let mut bits = [0u8; 17];
            bits[1..].copy_from_slice(&body[p + 1..p + 17]);
            let count: usize = bits.iter().map(|&b| usize::from(b)).sum();
            if count > 256 || p + 17 + count > body.len() {
                return fail(format!("DHT segment at byte {start} is malformed"));
            }
            let vals = body[p + 17..p + 17 + count].to_vec();
            p += 17 + count;
            let spec = HuffSpec { bits, vals };
            spec.codes().ok_or_else(|| {
                JpegError(format!("DHT segment at byte {start}: bad code lengths"))
            })?;
            tables.push((class, id, spec));
        }
        Ok(tables)
    }

    /// The canonical codes (Annex C), each with its length, in the order of `vals`; `None` when
    /// the lengths overflow the code space.
    fn codes(&self) -> Option<Vec<(u16, u8)>> {
        let mut out = Vec::with_capacity(self.vals.len());
        let mut code: u32 = 0;
        for len in 1..=16u8 {
            for _ in 0..self.bits[usize::from(len)] {
                if code >= (1 << len) {
                    return None;
                }
                out.push((code as u16, len));
                code += 1;
            }
            code <<= 1;
        }
        Some(out)
    }

    fn decoder(&self) -> HuffDecode {
        let codes = self.codes().unwrap_or_default();
        let mut d = HuffDecode {
            lookup: vec![0; 1 << LOOKUP_BITS],
            maxcode: [-1; 17],
            mincode: [0; 17],
            valptr: [0; 17],
            vals: self.vals.clone(),
        };
        let mut k = 0usize;
        for len in 1..=16usize {
            let n = usize::from(self.bits[len]);
            if n > 0 {
                d.valptr[len] = k as i32;
                d.mincode[len] = i32::from(codes[k].0);
                d.maxcode[len] = i32::from(codes[k + n - 1].0);
            }
            k += n;
        }
        for (i, &(code, len)) in codes.iter().enumerate() {
            if u32::from(len) <= LOOKUP_BITS {
                let shift = LOOKUP_BITS - u32::from(len);
                let first = usize::from(code) << shift;
                for e in &mut d.lookup[first..first + (1 << shift)] {
                    *e = (u16::from(len) << 8) | u16::from(self.vals[i]);
                }
            }
        }
        d
    }

    fn encoder(&self) -> HuffEncode {
        let mut e = HuffEncode {
            code: [0; 256],
            len: [0; 256],
        };
        for (&sym, (code, len)) in self.vals.iter().zip(self.codes().unwrap_or_default()) {
            // A symbol listed twice keeps its first (shortest) code.
            if e.len[usize::from(sym)] == 0 {
                e.code[usize::from(sym)] = code;
                e.len[usize::from(sym)] = len;
            }
        }
        e
    }

    /// Optimal code lengths limited to 16 bits for these symbol counts, as libjpeg's
    /// `jpeg_gen_optimal_table` (Annex K.2, with a reserved symbol so no code is all ones).
    fn optimal(freq_in: &[u64; 256]) -> HuffSpec {
        let mut freq = [0u64; 257];
        freq[..256].copy_from_slice(freq_in);
        freq[256] = 1;
        let mut codesize = [0usize; 257];
        let mut others = [usize::MAX; 257];
        loop {
            let smallest = |freq: &[u64; 257], skip: usize| {
                let mut best = None;
                let mut v = u64::MAX;
                for (i, &f) in freq.iter().enumerate() {
                    if f != 0 && f <= v && i != skip {
                        v = f;
                        best = Some(i);
                    }
                }
                best
            };
            let Some(mut c1) = smallest(&freq, usize::MAX) else {
                break;
            };
            let Some(mut c2) = smallest(&freq, c1) else {
                break;
            };
            freq[c1] += freq[c2];
            freq[c2] = 0;
            codesize[c1] += 1;
            while others[c1] != usize::MAX {
                c1 = others[c1];
                codesize[c1] += 1;
            }
            others[c1] = c2;
            codesize[c2] += 1;
            while others[c2] != usize::MAX {
                c2 = others[c2];
                codesize[c2] += 1;
            }
        }
        let mut bits = [0u32; 260];
        for &s in &codesize {
            if s > 0 {
                bits[s] += 1;
            }
        }
        for i in (17..bits.len()).rev() {
            while bits[i] > 0 {
                let mut j = i - 2;
                while bits[j] == 0 {
                    j -= 1;
                }
                bits[i] -= 2;
                bits[i - 1] += 1;
                bits[j + 1] += 2;
                bits[j] -= 1;
            }
        }
        let mut i = 16;
        while bits[i] == 0 {
            i -= 1;
        }
        bits[i] -= 1;
        let mut vals = vec![];
        for len in 1..codesize.len() {
            for (sym, &s) in codesize[..256].iter().enumerate() {
                if s == len {
                    vals.push(sym as u8);
                }
            }
        }
        // Lengths above 16 were folded into shorter ones: assign symbols to the adjusted
        // lengths in order of their original lengths, which is what `vals` holds.
        let mut out = [0u8; 17];
        for l in 1..=16 {
            out[l] = bits[l] as u8;
        }
        HuffSpec { bits: out, vals }
    }

    fn write_dht(out: &mut Vec<u8>, tables: &[(u8, u8, &HuffSpec)]) {
        let len: usize = 2 + tables
            .iter()
            .map(|(_, _, t)| 17 + t.vals.len())
            .sum::<usize>();
        out.extend_from_slice(&[0xFF, DHT]);
        out.extend_from_slice(&(len as u16).to_be_bytes());
        for (class, id, t) in tables {
            out.push((class << 4) | id);
            out.extend_from_slice(&t.bits[1..]);
            out.extend_from_slice(&t.vals);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Bits in and out

struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u64,
    nbits: u32,
    /// Zero bits appended past a marker or the end of the data.
    fake: u32,
    at_marker: bool,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8], pos: usize) -> Self {
        BitReader {
            data,
            pos,
            acc: 0,
            nbits: 0,
            fake: 0,
            at_marker: false,
        }
    }

    fn fill(&mut self) {
        while self.nbits <= 56 {
            let mut byte = 0;
            if !self.at_marker {
                match self.data.get(self.pos) {
                    Some(&0xFF) if self.data.get(self.pos + 1) == Some(&0) => {
                        byte = 0xFF;
                        self.pos += 2;
                    }
                    Some(&0xFF) | None => self.at_marker = true,
                    Some(&b) => {
                        byte = b;
                        self.pos += 1;
                    }
                }
            }
            if self.at_marker {
                self.fake += 8;
            }
            self.acc = (self.acc << 8) | u64::from(byte);
            self.nbits += 8;
        }
    }

    #[inline]
    fn peek16(&mut self) -> u32 {
        if self.nbits < 16 {
            self.fill();
        }
        ((self.acc >> (self.nbits - 16)) & 0xFFFF) as u32
    }

    #[inline]
    fn bits(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        if self.nbits < n {
            self.fill();
        }
        self.nbits -= n;
        ((self.acc >> self.nbits) & ((1u64 << n) - 1)) as u32
    }

    /// Whether bits past the end of the entropy-coded segment were used.
    fn overran(&self) -> bool {
        self.fake > self.nbits
    }

    /// Drops the fill bits of the last byte and checks that a marker follows; returns its
    /// offset.
    fn end_segment(&mut self) -> Result<usize> {
        self.nbits -= self.nbits % 8;
        let real = self.nbits.saturating_sub(self.fake);
        if real > 0 {
            return fail(format!(
                "{} bytes of entropy-coded data past the last MCU before byte {}",
                real / 8,
                self.pos
            ));
        }
        if !self.at_marker {
            match (self.data.get(self.pos), self.data.get(self.pos + 1)) {
                (None, _) | (Some(&0xFF), None) => {}
                (Some(&0xFF), Some(&b)) if b != 0 => {}
                _ => {
                    return fail(format!(
                        "entropy-coded data past the last MCU at byte {}",
                        self.pos
                    ))
                }
            }
        }
        Ok(self.pos)
    }
}

/// A source of entropy-coded bits: the stream as it is ([`BitReader`], stuffed bytes and
/// markers) or an entropy-coded segment with its stuffed bytes removed ([`PlainBits`]). Past
/// the end both give zero bits, as decoders do.
trait Bits {
    /// The next 16 bits, without consuming them.
    fn peek16(&mut self) -> u32;
    fn skip(&mut self, n: u32);
    fn bits(&mut self, n: u32) -> u32;
    /// Whether the data ended (the bits now read are made up).
    fn exhausted(&self) -> bool;
    /// A byte offset in the stream, for messages.
    fn near(&self) -> usize;
}

impl Bits for BitReader<'_> {
    #[inline]
    fn peek16(&mut self) -> u32 {
        BitReader::peek16(self)
    }
    #[inline]
    fn skip(&mut self, n: u32) {
        self.nbits -= n;
    }
    #[inline]
    fn bits(&mut self, n: u32) -> u32 {
        BitReader::bits(self, n)
    }
    fn exhausted(&self) -> bool {
        self.at_marker
    }
    fn near(&self) -> usize {
        self.pos
    }
}

/// The bits of one entropy-coded segment (a scan, or a restart interval) with its stuffed
/// zero bytes removed, so that a bit's position is known and ranges of bits can be copied.
struct PlainBits<'a> {
    data: &'a [u8],
    /// The next byte to load.
    pos: usize,
    acc: u64,
    nbits: u32,
    /// Offset of the segment in the stream, for messages.
    base: usize,
}

impl<'a> PlainBits<'a> {
    fn new(data: &'a [u8], base: usize) -> Self {
        PlainBits {
            data,
            pos: 0,
            acc: 0,
            nbits: 0,
            base,
        }
    }

    /// Bits consumed so far.
    #[inline]
    fn bit_pos(&self) -> usize {
        self.pos * 8 - self.nbits as usize
    }

    #[inline]
    fn fill(&mut self) {
        if self.pos + 8 <= self.data.len() {
            let n = (63 - self.nbits) / 8;
            let mut w = [0u8; 8];
            w.copy_from_slice(&self.data[self.pos..self.pos + 8]);
            let word = u64::from_be_bytes(w);
            self.acc = (self.acc << (8 * n)) | (word >> (64 - 8 * n));
            self.nbits += 8 * n;
            self.pos += n as usize;
            return;
        }
        while self.nbits <= 56 {
            let byte = self.data.get(self.pos).copied().unwrap_or(0);
            self.acc = (self.acc << 8) | u64::from(byte);
            self.nbits += 8;
            self.pos += 1;
        }
    }
}

impl Bits for PlainBits<'_> {
    #[inline]
    fn peek16(&mut self) -> u32 {
        if self.nbits < 16 {
            self.fill();
        }
        ((self.acc >> (self.nbits - 16)) & 0xFFFF) as u32
    }
    #[inline]
    fn skip(&mut self, n: u32) {
        self.nbits -= n;
    }
    #[inline]
    fn bits(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        if self.nbits < n {
            self.fill();
        }
        self.nbits -= n;
        ((self.acc >> self.nbits) & ((1u64 << n) - 1)) as u32
    }
    fn exhausted(&self) -> bool {
        self.pos > self.data.len()
    }
    fn near(&self) -> usize {
        self.base + self.pos.min(self.data.len())
    }
}

#[inline]
fn decode_huff<B: Bits>(r: &mut B, t: &HuffDecode) -> Result<u8> {
    let peek = r.peek16();
    let e = t.lookup[(peek >> (16 - LOOKUP_BITS)) as usize];
    if e != 0 {
        r.skip(u32::from(e >> 8));
        return Ok(e as u8);
    }
    for len in LOOKUP_BITS as usize + 1..=16 {
        let code = (peek >> (16 - len)) as i32;
        if code <= t.maxcode[len] {
            r.skip(len as u32);
            return Ok(t.vals[(t.valptr[len] + code - t.mincode[len]) as usize]);
        }
    }
    if r.exhausted() {
        return fail(format!("truncated scan at byte {}", r.near()));
    }
    fail(format!(
        "bad Huffman code in the scan near byte {}",
        r.near()
    ))
}

/// The DC difference of a block; `max_cat`: the largest category of the sample precision.
#[inline]
fn decode_dc<B: Bits>(r: &mut B, t: &HuffDecode, max_cat: u32) -> Result<i32> {
    let s = u32::from(decode_huff(r, t)?);
    if s > max_cat {
        return fail(format!(
            "DC difference category {s} in the scan near byte {}",
            r.near()
        ));
    }
    let bits = r.bits(s) as i32;
    Ok(if s > 0 && bits < (1 << (s - 1)) {
        bits - (1 << s) + 1
    } else {
        bits
    })
}

/// The AC symbols of a block, each `(rs << 16) | extra bits`, into `symbols`; returns how many.
#[inline]
fn decode_ac<B: Bits>(
    r: &mut B,
    t: &HuffDecode,
    symbols: &mut [u32; MAX_SYMBOLS],
) -> Result<usize> {
    let mut count = 0;
    let mut i = 1;
    while i < 64 {
        let rs = decode_huff(r, t)?;
        let (run, size) = (u32::from(rs >> 4), u32::from(rs & 15));
        if size == 0 {
            symbols[count] = u32::from(rs) << 16;
            count += 1;
            if run != 15 {
                break;
            }
            i += 16;
            if i > 64 {
                return fail(format!(
                    "AC run past the end of a block near byte {}",
                    r.near()
                ));
            }
            continue;
        }
        i += run as usize;
        if i > 63 {
            return fail(format!(
                "AC run past the end of a block near byte {}",
                r.near()
            ));
        }
        symbols[count] = (u32::from(rs) << 16) | r.bits(size);
        count += 1;
        i += 1;
    }
    Ok(count)
}

struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    nbits: u32,
}

impl BitWriter {
    #[inline]
    fn put(&mut self, value: u32, len: u32) {
        if len == 0 {
            return;
        }
        self.acc = (self.acc << len) | u64::from(value & ((1u32 << len) - 1));
        self.nbits += len;
        while self.nbits >= 8 {
            self.nbits -= 8;
            let b = (self.acc >> self.nbits) as u8;
            self.out.push(b);
            if b == 0xFF {
                self.out.push(0);
            }
        }
    }

    /// Appends whole bytes, stuffing each 0xFF; the writer must be at a byte boundary.
    fn push_bytes(&mut self, mut bytes: &[u8]) {
        debug_assert_eq!(self.nbits, 0);
        while let Some(i) = memchr::memchr(0xFF, bytes) {
            self.out.extend_from_slice(&bytes[..=i]);
            self.out.push(0);
            bytes = &bytes[i + 1..];
        }
        self.out.extend_from_slice(bytes);
    }

    /// Appends the bits `from..to` of `src` (bytes without stuffing, most significant bit
    /// first): whole bytes at a time once both sides are at a byte boundary.
    fn copy_bits(&mut self, src: &[u8], from: usize, to: usize) {
        let mut at = from;
        while at < to {
            if self.nbits == 0 && at % 8 == 0 {
                let whole = to / 8;
                self.push_bytes(&src[at / 8..whole]);
                at = whole * 8;
                if at < to {
                    let n = (to - at) as u32;
                    self.put(u32::from(src[at / 8] >> (8 - n)), n);
                }
                return;
            }
            let n = if (at % 8) as u32 == self.nbits {
                8 - at % 8
            } else {
                24
            }
            .min(to - at);
            let mut w = [0u8; 4];
            for (i, b) in w.iter_mut().enumerate() {
                *b = src.get(at / 8 + i).copied().unwrap_or(0);
            }
            let v = (u32::from_be_bytes(w) << (at % 8)) >> (32 - n);
            self.put(v, n as u32);
            at += n;
        }
    }

    /// Pads the last byte with 1 bits.
    fn flush(&mut self) {
        if self.nbits > 0 {
            let pad = 8 - self.nbits;
            self.put((1 << pad) - 1, pad);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Scans

/// A component of a scan, with everything needed to walk it.
struct ScanComp {
    /// Sampling factors (1x1 for a single-component frame).
    h: usize,
    v: usize,
    dc: usize,
    ac: usize,
    black_dc: i32,
    /// Blocks across and down when the scan is not interleaved.
    blocks_x: usize,
    blocks_y: usize,
}

/// Where the coded blocks go: counted (to build tables) or written.
trait Sink {
    /// A block: its DC difference and AC symbols, each `(rs << 16) | extra bits`. `Err(())`
    /// when a code is missing.
    fn block(&mut self, comp: &ScanComp, diff: i32, ac: &[u32]) -> std::result::Result<(), ()>;
    fn restart(&mut self, n: u8);
}

fn category(v: i32) -> u32 {
    32 - v.unsigned_abs().leading_zeros()
}

struct Writer<'t> {
    bits: BitWriter,
    dc: [Option<&'t HuffEncode>; 4],
    ac: [Option<&'t HuffEncode>; 4],
}

impl Sink for Writer<'_> {
    #[inline]
    fn block(&mut self, comp: &ScanComp, diff: i32, ac: &[u32]) -> std::result::Result<(), ()> {
        let dc = self.dc[comp.dc].ok_or(())?;
        let s = category(diff);
        let len = dc.len[s as usize];
        if len == 0 {
            return Err(());
        }
        self.bits
            .put(u32::from(dc.code[s as usize]), u32::from(len));
        let extra = if diff < 0 { diff - 1 } else { diff };
        self.bits.put(extra as u32, s);
        let act = self.ac[comp.ac].ok_or(())?;
        for &sym in ac {
            let rs = (sym >> 16) as usize;
            let len = act.len[rs];
            if len == 0 {
                return Err(());
            }
            self.bits.put(u32::from(act.code[rs]), u32::from(len));
            self.bits.put(sym & 0xFFFF, (rs & 15) as u32);
        }
        Ok(())
    }

    fn restart(&mut self, n: u8) {
        self.bits.flush();
        self.bits.out.extend_from_slice(&[0xFF, 0xD0 + n]);
    }
}

struct Counter {
    dc: [[u64; 256]; 4],
    ac: [[u64; 256]; 4],
}

impl Sink for Counter {
    fn block(&mut self, comp: &ScanComp, diff: i32, ac: &[u32]) -> std::result::Result<(), ()> {
        self.dc[comp.dc][category(diff) as usize] += 1;
        for &sym in ac {
            self.ac[comp.ac][(sym >> 16) as usize] += 1;
        }
        Ok(())
    }

    fn restart(&mut self, _n: u8) {}
}

/// A scan ready to be walked.
struct Scan<'a> {
    data: &'a [u8],
    /// Offset of the first entropy-coded byte.
    start: usize,
    comps: Vec<ScanComp>,
    decoders: [Option<&'a HuffDecode>; 2 * 4],
    restart_interval: usize,
    /// MCUs across and down (the frame's units when interleaved).
    mcus_x: usize,
    mcus_y: usize,
    /// Replaced units, row by row, `grid_x` across.
    cells: &'a [bool],
    grid_x: usize,
    /// The largest DC difference category: 11 for 8-bit samples, 15 for 12-bit.
    max_dc_cat: u32,
}

/// The AC symbols of one block: at most 63 coefficients and a few ZRL.
const MAX_SYMBOLS: usize = 80;

impl Scan<'_> {
    fn interleaved(&self) -> bool {
        self.comps.len() > 1
    }

    /// Decodes the scan and hands every block (replaced or kept) to the sink; returns the
    /// offset of the marker that ends the scan, or `Ok(Err(()))` when the sink lacks a code.
    fn walk<S: Sink>(&self, sink: &mut S) -> Result<std::result::Result<usize, ()>> {
        let mut r = BitReader::new(self.data, self.start);
        let mut pred_in = [0i32; 4];
        let mut pred_out = [0i32; 4];
        let total = self.mcus_x * self.mcus_y;
        let mut symbols = [0u32; MAX_SYMBOLS];
        let eob = [0u32];
        let mut rst = 0u8;
        for m in 0..total {
            if self.restart_interval > 0 && m > 0 && m % self.restart_interval == 0 {
                let at = r.end_segment()?;
                let Some(seg) = segment_at(self.data, at)? else {
                    return fail(format!(
                        "truncated scan at byte {at}: restart marker expected"
                    ));
                };
                if seg.marker != 0xD0 + rst {
                    return fail(format!(
                        "expected RST{rst} at byte {at}, found marker 0xFF{:02X}",
                        seg.marker
                    ));
                }
                sink.restart(rst);
                rst = (rst + 1) & 7;
                r = BitReader::new(self.data, seg.end);
                pred_in = [0; 4];
                pred_out = [0; 4];
            }
            let (mx, my) = (m % self.mcus_x, m / self.mcus_x);
            for (k, comp) in self.comps.iter().enumerate() {
                let (bh, bv) = if self.interleaved() {
                    (comp.h, comp.v)
                } else {
                    (1, 1)
                };
                for _ in 0..bh * bv {
                    let cell = if self.interleaved() {
                        my * self.grid_x + mx
                    } else {
                        (my / comp.v) * self.grid_x + mx / comp.h
                    };
                    let replaced = self.cells[cell];
                    let dct = self.decoders[comp.dc].expect("checked when the scan was set up");
                    let act = self.decoders[4 + comp.ac].expect("checked when the scan was set up");
                    let d = decode_dc(&mut r, dct, self.max_dc_cat)?;
                    pred_in[k] += d;
                    let count = decode_ac(&mut r, act, &mut symbols)?;
                    let (dc, ac): (i32, &[u32]) = if replaced {
                        (comp.black_dc, &eob)
                    } else {
                        (pred_in[k], &symbols[..count])
                    };
                    let diff = dc - pred_out[k];
                    if category(diff) > self.max_dc_cat {
                        return fail(format!("DC coefficient out of range near byte {}", r.pos));
                    }
                    pred_out[k] = dc;
                    if sink.block(comp, diff, ac).is_err() {
                        return Ok(Err(()));
                    }
                }
            }
            if r.overran() {
                return fail(format!("truncated scan at byte {}", r.pos));
            }
        }
        Ok(Ok(r.end_segment()?))
    }
}

/// A piece of the output of a redacted restart interval (or scan) in the fast path.
enum Item {
    /// Bits of the source segment, as they are.
    Copy { from: usize, to: usize },
    /// A kept block's DC difference, coded again (its AC bits follow as a `Copy`).
    Dc { slot: usize, diff: i32 },
    /// A replaced block: its DC difference, `zrl` ZRL symbols (16 zero coefficients each, to
    /// bring the output to the source's bit alignment), EOB.
    Black { slot: usize, diff: i32, zrl: u32 },
}

/// The length of a DC difference's code and extra bits; `None` when the table lacks it.
fn dc_bits(e: &HuffEncode, diff: i32) -> Option<usize> {
    let s = category(diff);
    match e.len[s as usize] {
        0 => None,
        len => Some(usize::from(len) + s as usize),
    }
}

fn put_dc(w: &mut BitWriter, e: &HuffEncode, diff: i32) {
    let s = category(diff);
    w.put(u32::from(e.code[s as usize]), u32::from(e.len[s as usize]));
    w.put((if diff < 0 { diff - 1 } else { diff }) as u32, s);
}

/// The source's entropy-coded bytes `data` without their stuffed zero bytes.
fn unstuff(mut data: &[u8], out: &mut Vec<u8>) {
    out.clear();
    while let Some(i) = memchr::memchr(0xFF, data) {
        out.extend_from_slice(&data[..=i]);
        data = data.get(i + 2..).unwrap_or(&[]);
    }
    out.extend_from_slice(data);
}

/// Offset of the marker that ends entropy-coded data starting at `pos` (its first 0xFF, fill
/// bytes included), or the end of the data.
fn next_marker(data: &[u8], mut pos: usize) -> usize {
    while let Some(i) = memchr::memchr(0xFF, &data[pos..]) {
        let at = pos + i;
        if data.get(at + 1) != Some(&0) {
            return at;
        }
        pos = at + 2;
    }
    data.len()
}

impl Scan<'_> {
    /// Whether the blocks of component `k` in MCU `m` are replaced.
    fn replaced(&self, m: usize, k: usize) -> bool {
        let (mx, my) = (m % self.mcus_x, m / self.mcus_x);
        let cell = if self.interleaved() {
            my * self.grid_x + mx
        } else {
            (my / self.comps[k].v) * self.grid_x + mx / self.comps[k].h
        };
        self.cells[cell]
    }

    /// The scan coded again touching only what changes: a restart interval with no replaced
    /// unit is copied as it is; in one that has some, the bits before the first replaced MCU
    /// are copied, the MCUs from it up to where every component's DC predictor agrees again
    /// with the source's (the first kept block after a replaced one has its DC difference
    /// coded again) are written, and the rest is copied: as bytes when the output is at the
    /// source's bit alignment there (replaced blocks take a few ZRL symbols before their EOB to
    /// get it), else decoded to find its last bit and copied shifted. Returns the entropy-coded
    /// data and the offset of the marker that ends the scan; `None` when the stream's tables
    /// lack a code the replaced blocks need (the caller then rebuilds the tables).
    ///
    /// The source's bits past the last changed block are not decoded when they are copied as
    /// bytes: a defect there stays as it was (it cannot move a block into the replaced units).
    fn fast(&self, enc: &[Option<&HuffEncode>; 8]) -> Result<Option<(Vec<u8>, usize)>> {
        let total = self.mcus_x * self.mcus_y;
        let per_interval = if self.restart_interval > 0 {
            self.restart_interval
        } else {
            total
        };
        let intervals = total.div_ceil(per_interval);
        let mut w = BitWriter {
            out: Vec::with_capacity(self.data.len() - self.start + 64),
            acc: 0,
            nbits: 0,
        };
        let mut plain = Vec::new();
        let mut items = Vec::new();
        let mut a = self.start;
        for i in 0..intervals {
            let b = next_marker(self.data, a);
            let (m0, m1) = (i * per_interval, ((i + 1) * per_interval).min(total));
            let hit = |m: usize| (0..self.comps.len()).any(|k| self.replaced(m, k));
            match (m0..m1).find(|&m| hit(m)) {
                None => {
                    w.out.extend_from_slice(&self.data[a..b]);
                }
                Some(first) => {
                    let last = (first..m1).rev().find(|&m| hit(m)).unwrap_or(first);
                    unstuff(&self.data[a..b], &mut plain);
                    if !self
                        .fast_interval(&plain, a, m0, first, last, m1, enc, &mut items, &mut w)?
                    {
                        return Ok(None);
                    }
                    w.flush();
                }
            }
            if i + 1 == intervals {
                return Ok(Some((w.out, b)));
            }
            let rst = (i % 8) as u8;
            let Some(seg) = segment_at(self.data, b)? else {
                return fail(format!(
                    "truncated scan at byte {b}: restart marker expected"
                ));
            };
            if seg.marker != 0xD0 + rst {
                return fail(format!(
                    "expected RST{rst} at byte {b}, found marker 0xFF{:02X}",
                    seg.marker
                ));
            }
            w.out.extend_from_slice(&[0xFF, 0xD0 + rst]);
            a = seg.end;
        }
        fail("a scan without MCUs")
    }

    /// One restart interval (or the whole scan) holding replaced MCUs (`first` to `last`) of
    /// the MCUs `m0..m1`, from its bits without stuffing; `false` when a code is missing.
    #[allow(clippy::too_many_arguments)]
    fn fast_interval(
        &self,
        plain: &[u8],
        base: usize,
        m0: usize,
        first: usize,
        last: usize,
        m1: usize,
        enc: &[Option<&HuffEncode>; 8],
        items: &mut Vec<Item>,
        w: &mut BitWriter,
    ) -> Result<bool> {
        let mut r = PlainBits::new(plain, base);
        let mut symbols = [0u32; MAX_SYMBOLS];
        let mut pred_in = [0i32; 4];
        let blocks = |k: usize| {
            let c = &self.comps[k];
            if self.interleaved() {
                c.h * c.v
            } else {
                1
            }
        };
        let decoders = |k: usize| {
            let c = &self.comps[k];
            (
                self.decoders[c.dc].expect("checked when the scan was set up"),
                self.decoders[4 + c.ac].expect("checked when the scan was set up"),
            )
        };
        let overran = |r: &PlainBits| r.bit_pos() > 8 * plain.len();
        let truncated = |r: &PlainBits| fail(format!("truncated scan at byte {}", r.near()));
        // The MCUs before the first replaced one: decoded for the predictors and the position.
        for _ in m0..first {
            for (k, pred) in pred_in.iter_mut().enumerate().take(self.comps.len()) {
                let (dct, act) = decoders(k);
                for _ in 0..blocks(k) {
                    *pred += decode_dc(&mut r, dct, self.max_dc_cat)?;
                    decode_ac(&mut r, act, &mut symbols)?;
                }
            }
            if overran(&r) {
                return truncated(&r);
            }
        }
        let mut pred_out = pred_in;
        let head = r.bit_pos();
        // From the first replaced MCU to where the predictors agree again.
        items.clear();
        let mut m = first;
        while m < m1 && (m <= last || pred_in != pred_out) {
            for k in 0..self.comps.len() {
                let comp = &self.comps[k];
                let (dct, act) = decoders(k);
                let replaced = self.replaced(m, k);
                for _ in 0..blocks(k) {
                    let start = r.bit_pos();
                    let d = decode_dc(&mut r, dct, self.max_dc_cat)?;
                    let dc_end = r.bit_pos();
                    pred_in[k] += d;
                    decode_ac(&mut r, act, &mut symbols)?;
                    let end = r.bit_pos();
                    let dc = if replaced { comp.black_dc } else { pred_in[k] };
                    let diff = dc - pred_out[k];
                    if category(diff) > self.max_dc_cat {
                        return fail(format!(
                            "DC coefficient out of range near byte {}",
                            r.near()
                        ));
                    }
                    pred_out[k] = dc;
                    if replaced {
                        items.push(Item::Black {
                            slot: k,
                            diff,
                            zrl: 0,
                        });
                    } else if diff == d {
                        match items.last_mut() {
                            Some(Item::Copy { to, .. }) if *to == start => *to = end,
                            _ => items.push(Item::Copy {
                                from: start,
                                to: end,
                            }),
                        }
                    } else {
                        items.push(Item::Dc { slot: k, diff });
                        items.push(Item::Copy {
                            from: dc_end,
                            to: end,
                        });
                    }
                }
            }
            if overran(&r) {
                return truncated(&r);
            }
            m += 1;
        }
        let synced = r.bit_pos();
        // The bits the items take, and what each replaced block can add.
        let (mut written, mut zrl_len) = (head, Vec::new());
        for (j, item) in items.iter().enumerate() {
            written += match *item {
                Item::Copy { from, to } => to - from,
                Item::Dc { slot, diff } => {
                    let Some(e) = enc[self.comps[slot].dc] else {
                        return Ok(false);
                    };
                    let Some(n) = dc_bits(e, diff) else {
                        return Ok(false);
                    };
                    n
                }
                Item::Black { slot, diff, .. } => {
                    let comp = &self.comps[slot];
                    let (Some(dce), Some(ace)) = (enc[comp.dc], enc[4 + comp.ac]) else {
                        return Ok(false);
                    };
                    let (Some(n), eob) = (dc_bits(dce, diff), ace.len[0]) else {
                        return Ok(false);
                    };
                    if eob == 0 {
                        return Ok(false);
                    }
                    if ace.len[0xF0] > 0 && zrl_len.len() < 64 {
                        zrl_len.push((j, usize::from(ace.len[0xF0])));
                    }
                    n + usize::from(eob)
                }
            };
        }
        // Up to 3 ZRL in a replaced block (48 zeros, then EOB) bring the output to the source's
        // alignment, so the rest is copied as bytes.
        let need = (synced + 8 - written % 8) % 8;
        let mut ways: [Option<Vec<(usize, u32)>>; 8] = Default::default();
        ways[0] = Some(Vec::new());
        for &(j, len) in &zrl_len {
            if ways[need].is_some() {
                break;
            }
            let mut next = ways.clone();
            for (rem, way) in ways.iter().enumerate() {
                let Some(way) = way else { continue };
                for n in 1..=3 {
                    let to = (rem + n * len) % 8;
                    if next[to].is_none() {
                        let mut v = way.clone();
                        v.push((j, n as u32));
                        next[to] = Some(v);
                    }
                }
            }
            ways = next;
        }
        let aligned = m < m1 && ways[need].is_some();
        if let (true, Some(way)) = (aligned, &ways[need]) {
            for &(j, n) in way {
                if let Item::Black { zrl, .. } = &mut items[j] {
                    *zrl = n;
                }
            }
        }
        // Write: the bits before, the items, the rest.
        w.copy_bits(plain, 0, head);
        for item in items.iter() {
            match *item {
                Item::Copy { from, to } => w.copy_bits(plain, from, to),
                Item::Dc { slot, diff } => {
                    put_dc(w, enc[self.comps[slot].dc].expect("checked above"), diff)
                }
                Item::Black { slot, diff, zrl } => {
                    let comp = &self.comps[slot];
                    put_dc(w, enc[comp.dc].expect("checked above"), diff);
                    let ace = enc[4 + comp.ac].expect("checked above");
                    for _ in 0..zrl {
                        w.put(u32::from(ace.code[0xF0]), u32::from(ace.len[0xF0]));
                    }
                    w.put(u32::from(ace.code[0]), u32::from(ace.len[0]));
                }
            }
        }
        if aligned {
            debug_assert_eq!(w.nbits as usize, synced % 8);
            w.copy_bits(plain, synced, 8 * plain.len());
            return Ok(true);
        }
        // Not aligned (or nothing follows): decode the rest to find its last bit.
        while m < m1 {
            for k in 0..self.comps.len() {
                let (dct, act) = decoders(k);
                for _ in 0..blocks(k) {
                    decode_dc(&mut r, dct, self.max_dc_cat)?;
                    decode_ac(&mut r, act, &mut symbols)?;
                }
            }
            if overran(&r) {
                return truncated(&r);
            }
            m += 1;
        }
        let end = r.bit_pos();
        let whole = end.div_ceil(8);
        if whole < plain.len() {
            return fail(format!(
                "{} bytes of entropy-coded data past the last MCU before byte {}",
                plain.len() - whole,
                base + plain.len()
            ));
        }
        w.copy_bits(plain, synced, end);
        Ok(true)
    }
}

// ---------------------------------------------------------------------------------------------
// The redaction

/// Tables and settings as the marker segments define them so far.
#[derive(Default)]
struct Tables {
    specs: [Option<HuffSpec>; 8],
    decoders: [Option<HuffDecode>; 8],
    encoders: [Option<HuffEncode>; 8],
    q0: [Option<u16>; 4],
    restart_interval: u16,
}

fn parse_dqt(body: &[u8], start: usize, q0: &mut [Option<u16>; 4]) -> Result<()> {
    let mut p = 0;
    while p < body.len() {
        let (pq, tq) = (body[p] >> 4, usize::from(body[p] & 15));
        let size = if pq == 0 { 64 } else { 128 };
        if pq > 1 || tq > 3 || p + 1 + size > body.len() {
            return fail(format!("DQT segment at byte {start} is malformed"));
        }
        q0[tq] = Some(if pq == 0 {
            u16::from(body[p + 1])
        } else {
            u16::from_be_bytes([body[p + 1], body[p + 2]])
        });
        p += 1 + size;
    }
    Ok(())
}

/// The DC coefficient of a replaced block of the component at `frame_index` (see the module
/// documentation), for samples of `precision` bits (8 or 12): a decoded sample is
/// `DC * Q[0] / 8` plus the level shift `2^(precision - 1)`, clamped.
fn black_dc(black: BlackLevel, frame_index: usize, q0: u16, precision: u8) -> Result<i32> {
    if q0 == 0 {
        return fail("a quantization table has 0 as its DC entry");
    }
    let q = i32::from(q0);
    let shift = 1i32 << (precision - 1);
    // DC * q <= -8 * shift decodes to 0; DC * q >= 8 * (shift - 1) to the maximum.
    let (zero, max) = (8 * shift, 8 * (shift - 1));
    let first = frame_index == 0;
    Ok(match black {
        BlackLevel::Rgb0 => -((zero + q - 1) / q),
        BlackLevel::Luma0 if first => -((zero + q - 1) / q),
        BlackLevel::Max if first => (max + q - 1) / q,
        _ => 0,
    })
}

/// Redacts one JPEG frame: every MCU that touches a region decodes to black, every other block
/// keeps its coefficients. See the module documentation.
pub fn redact_frame(jpeg: &[u8], regions: &[Rect], black: BlackLevel) -> Result<Redacted> {
    redact(jpeg, regions, black, Mode::Fast)
}

/// How [`redact`] codes a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Only what changes ([`Scan::fast`]); the full coding when a code is missing. An
    /// untouched stream is returned as it came.
    Fast,
    /// Every MCU decoded and coded again, also in an untouched stream (the tests check that
    /// this changes nothing, and that both modes decode alike).
    #[cfg_attr(not(test), allow(dead_code))]
    Full,
}

/// The redaction.
fn redact(jpeg: &[u8], regions: &[Rect], black: BlackLevel, mode: Mode) -> Result<Redacted> {
    check_soi(jpeg)?;
    let mut out = Vec::with_capacity(jpeg.len() + 1024);
    out.extend_from_slice(&jpeg[..2]);
    let mut t = Tables::default();
    let mut frame: Option<FrameInfo> = None;
    let mut cells: Vec<bool> = vec![];
    let (mut grid_x, mut grid_y, mut unit_w, mut unit_h) = (0, 0, 8, 8);
    let mut coded = [false; 4];
    let mut rebuilt = false;
    let mut pos = 2;
    while let Some(seg) = segment_at(jpeg, pos)? {
        pos = seg.end;
        if let Some(why) = sof_refusal(seg.marker) {
            return fail(why);
        }
        match seg.marker {
            EOI => {
                out.extend_from_slice(&jpeg[seg.start..]);
                break;
            }
            0xC0 | 0xC1 => {
                if frame.is_some() {
                    return fail(format!("a second frame header at byte {}", seg.start));
                }
                let f = parse_frame(seg.marker, seg.body, seg.start)?;
                if !(f.precision == 8 || f.precision == 12 && seg.marker == 0xC1) {
                    return fail(format!(
                        "{}-bit JPEG (SOF{}) cannot be redacted block by block: only 8-bit \
                         samples, and 12-bit in extended (SOF1) streams",
                        f.precision,
                        seg.marker - 0xC0
                    ));
                }
                if f.height == 0 {
                    return fail(
                        "the frame height is 0 (defined by a DNL marker), which is not supported",
                    );
                }
                if f.width == 0 {
                    return fail("the frame width is 0");
                }
                if f.components.len() > 4 {
                    return fail(format!(
                        "{} components (at most 4 supported)",
                        f.components.len()
                    ));
                }
                if f.components.len() > 1 {
                    unit_w = 8 * u32::from(f.components.iter().map(|c| c.h).max().unwrap_or(1));
                    unit_h = 8 * u32::from(f.components.iter().map(|c| c.v).max().unwrap_or(1));
                }
                grid_x = f.width.div_ceil(unit_w) as usize;
                grid_y = f.height.div_ceil(unit_h) as usize;
                cells = vec![false; grid_x * grid_y];
                for r in regions {
                    let x1 = r.x.saturating_add(r.w).min(f.width);
                    let y1 = r.y.saturating_add(r.h).min(f.height);
                    if r.x >= x1 || r.y >= y1 {
                        continue;
                    }
                    for cy in r.y / unit_h..=(y1 - 1) / unit_h {
                        for cx in r.x / unit_w..=(x1 - 1) / unit_w {
                            cells[cy as usize * grid_x + cx as usize] = true;
                        }
                    }
                }
                frame = Some(f);
                out.extend_from_slice(&jpeg[seg.start..seg.end]);
            }
            DHT => {
                for (class, id, spec) in HuffSpec::parse(seg.body, seg.start)? {
                    let slot = usize::from(class) * 4 + usize::from(id);
                    t.decoders[slot] = Some(spec.decoder());
                    t.encoders[slot] = Some(spec.encoder());
                    t.specs[slot] = Some(spec);
                }
                out.extend_from_slice(&jpeg[seg.start..seg.end]);
            }
            DQT => {
                parse_dqt(seg.body, seg.start, &mut t.q0)?;
                out.extend_from_slice(&jpeg[seg.start..seg.end]);
            }
            DRI => {
                t.restart_interval = parse_dri(seg.body, seg.start)?;
                out.extend_from_slice(&jpeg[seg.start..seg.end]);
            }
            DNL => return fail("a DNL marker (height defined after the scan) is not supported"),
            SOS => {
                let Some(f) = &frame else {
                    return fail(format!(
                        "a scan at byte {} before the frame header",
                        seg.start
                    ));
                };
                let scan =
                    setup_scan(jpeg, &seg, f, &t, black, &cells, grid_x, grid_y, &mut coded)?;
                let encoders: [Option<&HuffEncode>; 8] =
                    std::array::from_fn(|i| t.encoders[i].as_ref());
                if mode == Mode::Fast {
                    if let Some((coded_data, end)) = scan.fast(&encoders)? {
                        out.extend_from_slice(&jpeg[seg.start..seg.end]);
                        out.extend_from_slice(&coded_data);
                        pos = end;
                        continue;
                    }
                }
                let mut writer = Writer {
                    bits: BitWriter {
                        out: Vec::with_capacity(jpeg.len()),
                        acc: 0,
                        nbits: 0,
                    },
                    dc: std::array::from_fn(|i| t.encoders[i].as_ref()),
                    ac: std::array::from_fn(|i| t.encoders[4 + i].as_ref()),
                };
                let end = match scan.walk(&mut writer)? {
                    Ok(end) => {
                        out.extend_from_slice(&jpeg[seg.start..seg.end]);
                        end
                    }
                    Err(()) => {
                        rebuilt = true;
                        let mut counter = Counter {
                            dc: [[0; 256]; 4],
                            ac: [[0; 256]; 4],
                        };
                        scan.walk(&mut counter)?.expect("counting never fails");
                        let mut used = vec![];
                        for c in &scan.comps {
                            for slot in [c.dc, 4 + c.ac] {
                                if !used.contains(&slot) {
                                    used.push(slot);
                                }
                            }
                        }
                        let fresh: Vec<(usize, HuffSpec)> = used
                            .iter()
                            .map(|&slot| {
                                let freq = if slot < 4 {
                                    &counter.dc[slot]
                                } else {
                                    &counter.ac[slot - 4]
                                };
                                (slot, HuffSpec::optimal(freq))
                            })
                            .collect();
                        let encoders: Vec<(usize, HuffEncode)> =
                            fresh.iter().map(|(s, spec)| (*s, spec.encoder())).collect();
                        let find =
                            |slot: usize| encoders.iter().find(|(s, _)| *s == slot).map(|(_, e)| e);
                        let mut writer = Writer {
                            bits: BitWriter {
                                out: Vec::with_capacity(jpeg.len()),
                                acc: 0,
                                nbits: 0,
                            },
                            dc: std::array::from_fn(find),
                            ac: std::array::from_fn(|i| find(4 + i)),
                        };
                        let end = scan.walk(&mut writer)?.map_err(|()| {
                            JpegError("rebuilt Huffman tables lack a code (a bug)".into())
                        })?;
                        let list: Vec<(u8, u8, &HuffSpec)> = fresh
                            .iter()
                            .map(|(s, spec)| ((*s / 4) as u8, (*s % 4) as u8, spec))
                            .collect();
                        HuffSpec::write_dht(&mut out, &list);
                        out.extend_from_slice(&jpeg[seg.start..seg.end]);
                        writer.bits.flush();
                        out.extend_from_slice(&writer.bits.out);
                        // Later scans decode with the tables they were coded with.
                        let next = segment_at(jpeg, end)?;
                        if next.is_some_and(|s| s.marker != EOI) {
                            let originals: Vec<(u8, u8, &HuffSpec)> = used
                                .iter()
                                .filter_map(|&s| {
                                    t.specs[s]
                                        .as_ref()
                                        .map(|spec| ((s / 4) as u8, (s % 4) as u8, spec))
                                })
                                .collect();
                            HuffSpec::write_dht(&mut out, &originals);
                        }
                        pos = end;
                        continue;
                    }
                };
                writer.bits.flush();
                out.extend_from_slice(&writer.bits.out);
                pos = end;
            }
            _ => {
                out.extend_from_slice(&jpeg[seg.start..seg.end]);
            }
        }
    }
    let Some(f) = frame else {
        return fail("no frame header (SOFn) in the stream");
    };
    if !coded.iter().take(f.components.len()).any(|&c| c) {
        return fail("no scan in the stream");
    }
    let mcus_replaced = cells.iter().filter(|&&c| c).count();
    Ok(Redacted {
        data: if mcus_replaced == 0 && mode == Mode::Fast {
            jpeg.to_vec()
        } else {
            out
        },
        mcus_replaced,
        mcus_total: grid_x * grid_y,
        tables_rebuilt: rebuilt && mcus_replaced > 0,
    })
}

#[allow(clippy::too_many_arguments)]
fn setup_scan<'a>(
    jpeg: &'a [u8],
    seg: &Segment<'a>,
    f: &FrameInfo,
    t: &'a Tables,
    black: BlackLevel,
    cells: &'a [bool],
    grid_x: usize,
    grid_y: usize,
    coded: &mut [bool; 4],
) -> Result<Scan<'a>> {
    let b = seg.body;
    let n = usize::from(*b.first().unwrap_or(&0));
    if n == 0 || n > 4 || b.len() != 1 + 2 * n + 3 {
        return fail(format!("malformed scan header at byte {}", seg.start));
    }
    let (ss, se, ahl) = (b[1 + 2 * n], b[2 + 2 * n], b[3 + 2 * n]);
    if ss != 0 || se != 63 || ahl != 0 {
        return fail(format!(
            "scan at byte {} is not sequential (Ss={ss} Se={se} Ah/Al=0x{ahl:02X})",
            seg.start
        ));
    }
    let single = f.components.len() == 1;
    let hmax = usize::from(f.components.iter().map(|c| c.h).max().unwrap_or(1));
    let vmax = usize::from(f.components.iter().map(|c| c.v).max().unwrap_or(1));
    let mut comps = Vec::with_capacity(n);
    for c in b[1..1 + 2 * n].chunks_exact(2) {
        let Some(fi) = f.components.iter().position(|fc| fc.id == c[0]) else {
            return fail(format!(
                "scan at byte {} names component {}, not in the frame",
                seg.start, c[0]
            ));
        };
        if coded[fi] {
            return fail(format!(
                "component {} is coded in more than one scan at byte {}",
                c[0], seg.start
            ));
        }
        coded[fi] = true;
        let fc = f.components[fi];
        let (dc, ac) = (usize::from(c[1] >> 4), usize::from(c[1] & 15));
        if dc > 3 || ac > 3 || t.decoders[dc].is_none() || t.decoders[4 + ac].is_none() {
            return fail(format!(
                "component {} uses Huffman tables DC {dc} / AC {ac}, not defined before the scan",
                c[0]
            ));
        }
        let Some(q0) = t.q0.get(usize::from(fc.tq)).copied().flatten() else {
            return fail(format!(
                "component {} uses quantization table {}, not defined before the scan",
                c[0], fc.tq
            ));
        };
        let (h, v) = if single {
            (1, 1)
        } else {
            (usize::from(fc.h), usize::from(fc.v))
        };
        let w = (f.width as usize * h).div_ceil(if single { 1 } else { hmax });
        let hgt = (f.height as usize * v).div_ceil(if single { 1 } else { vmax });
        comps.push(ScanComp {
            h,
            v,
            dc,
            ac,
            black_dc: black_dc(black, fi, q0, f.precision)?,
            blocks_x: w.div_ceil(8),
            blocks_y: hgt.div_ceil(8),
        });
    }
    if n > 1 && comps.iter().map(|c| c.h * c.v).sum::<usize>() > 10 {
        return fail(format!(
            "scan at byte {} has more than 10 blocks per MCU",
            seg.start
        ));
    }
    let (mcus_x, mcus_y) = if n > 1 {
        (grid_x, grid_y)
    } else {
        (comps[0].blocks_x, comps[0].blocks_y)
    };
    Ok(Scan {
        data: jpeg,
        start: seg.end,
        decoders: std::array::from_fn(|i| t.decoders[i].as_ref()),
        comps,
        restart_interval: usize::from(t.restart_interval),
        mcus_x,
        mcus_y,
        cells,
        grid_x,
        max_dc_cat: if f.precision == 12 { 15 } else { 11 },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The luminance DC and AC tables of Annex K.3 (every category, every symbol).
    fn std_dc() -> HuffSpec {
        let mut bits = [0u8; 17];
        bits[1..].copy_from_slice(&[0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]);
        HuffSpec {
            bits,
            vals: (0..12).collect(),
        }
    }

    fn std_ac() -> HuffSpec {
        let counts = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d];
        let vals: Vec<u8> = vec![
            0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51,
            0x61, 0x07, 0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1,
            0x15, 0x52, 0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18,
            0x19, 0x1a, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39,
            0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57,
            0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75,
            0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92,
            0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
            0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
            0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8,
            0xd9, 0xda, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2,
            0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
        ];
        let mut bits = [0u8; 17];
        bits[1..].copy_from_slice(&counts);
        HuffSpec { bits, vals }
    }

    /// A test stream: per component (h, v), coefficients of every block in coding order
    /// (zigzag, DC absolute).
    struct Spec {
        width: u32,
        height: u32,
        sampling: Vec<(u8, u8)>,
        restart: u16,
        /// One scan per component.
        separate_scans: bool,
        dc: HuffSpec,
        ac: HuffSpec,
        q0: u8,
        sof: u8,
        precision: u8,
    }

    impl Spec {
        fn new(width: u32, height: u32, sampling: &[(u8, u8)]) -> Spec {
            Spec {
                width,
                height,
                sampling: sampling.to_vec(),
                restart: 0,
                separate_scans: false,
                dc: std_dc(),
                ac: std_ac(),
                q0: 16,
                sof: 0xC0,
                precision: 8,
            }
        }
    }

    /// Encodes blocks given by `coef(component, block index in coding order)`; returns the
    /// stream and the blocks.
    fn encode(
        s: &Spec,
        coef: impl Fn(usize, usize) -> [i32; 64],
    ) -> (Vec<u8>, Vec<Vec<[i32; 64]>>) {
        let n = s.sampling.len();
        let mut out = vec![0xFF, SOI, 0xFF, DQT, 0, 67, 0, s.q0];
        out.extend_from_slice(&[1u8; 63]);
        out.extend_from_slice(&[0xFF, s.sof]);
        out.extend_from_slice(&((8 + 3 * n) as u16).to_be_bytes());
        out.push(s.precision);
        out.extend_from_slice(&(s.height as u16).to_be_bytes());
        out.extend_from_slice(&(s.width as u16).to_be_bytes());
        out.push(n as u8);
        for (i, (h, v)) in s.sampling.iter().enumerate() {
            out.extend_from_slice(&[i as u8 + 1, (h << 4) | v, 0]);
        }
        let ac = &s.ac;
        HuffSpec::write_dht(&mut out, &[(0, 0, &s.dc), (1, 0, ac)]);
        if s.restart > 0 {
            out.extend_from_slice(&[0xFF, DRI, 0, 4]);
            out.extend_from_slice(&s.restart.to_be_bytes());
        }
        let (dce, ace) = (s.dc.encoder(), ac.encoder());
        let single = n == 1;
        let hmax = s.sampling.iter().map(|c| c.0 as u32).max().unwrap();
        let vmax = s.sampling.iter().map(|c| c.1 as u32).max().unwrap();
        let (uw, uh) = if single { (8, 8) } else { (8 * hmax, 8 * vmax) };
        let (gx, gy) = (
            s.width.div_ceil(uw) as usize,
            s.height.div_ceil(uh) as usize,
        );
        let scans: Vec<Vec<usize>> = if s.separate_scans || single {
            (0..n).map(|c| vec![c]).collect()
        } else {
            vec![(0..n).collect()]
        };
        let mut blocks: Vec<Vec<[i32; 64]>> = vec![vec![]; n];
        for scan in scans {
            out.extend_from_slice(&[0xFF, SOS]);
            out.extend_from_slice(&((6 + 2 * scan.len()) as u16).to_be_bytes());
            out.push(scan.len() as u8);
            for &c in &scan {
                out.extend_from_slice(&[c as u8 + 1, 0]);
            }
            out.extend_from_slice(&[0, 63, 0]);
            // The units of this scan: (component, blocks per unit).
            let mcus = if scan.len() > 1 || single {
                gx * gy
            } else {
                let (h, v) = (s.sampling[scan[0]].0 as u32, s.sampling[scan[0]].1 as u32);
                ((s.width * h).div_ceil(hmax).div_ceil(8)
                    * (s.height * v).div_ceil(vmax).div_ceil(8)) as usize
            };
            let mut w = BitWriter {
                out: vec![],
                acc: 0,
                nbits: 0,
            };
            let mut pred = [0i32; 4];
            let mut rst = 0u8;
            for m in 0..mcus {
                if s.restart > 0 && m > 0 && m % usize::from(s.restart) == 0 {
                    w.flush();
                    w.out.extend_from_slice(&[0xFF, 0xD0 + rst]);
                    rst = (rst + 1) & 7;
                    pred = [0; 4];
                }
                for &c in &scan {
                    let per = if scan.len() > 1 {
                        usize::from(s.sampling[c].0 * s.sampling[c].1)
                    } else {
                        1
                    };
                    for _ in 0..per {
                        let b = coef(c, blocks[c].len());
                        let diff = b[0] - pred[c];
                        pred[c] = b[0];
                        let cat = category(diff);
                        w.put(
                            u32::from(dce.code[cat as usize]),
                            u32::from(dce.len[cat as usize]),
                        );
                        w.put((if diff < 0 { diff - 1 } else { diff }) as u32, cat);
                        let mut run = 0;
                        for &v in &b[1..] {
                            if v == 0 {
                                run += 1;
                                continue;
                            }
                            while run > 15 {
                                w.put(u32::from(ace.code[0xF0]), u32::from(ace.len[0xF0]));
                                run -= 16;
                            }
                            let cat = category(v);
                            let rs = (run << 4) | cat as usize;
                            w.put(u32::from(ace.code[rs]), u32::from(ace.len[rs]));
                            w.put((if v < 0 { v - 1 } else { v }) as u32, cat);
                            run = 0;
                        }
                        if run > 0 {
                            w.put(u32::from(ace.code[0]), u32::from(ace.len[0]));
                        }
                        blocks[c].push(b);
                    }
                }
            }
            w.flush();
            out.extend_from_slice(&w.out);
        }
        out.extend_from_slice(&[0xFF, EOI]);
        (out, blocks)
    }

    /// Decodes a stream to coefficients, per frame component, in coding order.
    fn decode(jpeg: &[u8]) -> Vec<Vec<[i32; 64]>> {
        struct Dec {
            blocks: Vec<Vec<[i32; 64]>>,
            pred: [i32; 4],
            comp_of: Vec<usize>,
            next: usize,
            per: Vec<usize>,
        }
        impl Sink for Dec {
            fn block(
                &mut self,
                _comp: &ScanComp,
                diff: i32,
                ac: &[u32],
            ) -> std::result::Result<(), ()> {
                // The walker visits the scan's components in order, `per` blocks each.
                let total: usize = self.per.iter().sum();
                let mut k = self.next % total;
                let mut slot = 0;
                while k >= self.per[slot] {
                    k -= self.per[slot];
                    slot += 1;
                }
                self.next += 1;
                let c = self.comp_of[slot];
                self.pred[slot] += diff;
                let mut b = [0i32; 64];
                b[0] = self.pred[slot];
                let mut i = 1;
                for &sym in ac {
                    let rs = (sym >> 16) as usize;
                    let (run, size) = (rs >> 4, (rs & 15) as u32);
                    if size == 0 {
                        if run == 15 {
                            i += 16;
                            continue;
                        }
                        break;
                    }
                    i += run;
                    let bits = (sym & 0xFFFF) as i32;
                    b[i] = if bits < (1 << (size - 1)) {
                        bits - (1 << size) + 1
                    } else {
                        bits
                    };
                    i += 1;
                }
                self.blocks[c].push(b);
                Ok(())
            }
            fn restart(&mut self, _n: u8) {
                self.pred = [0; 4];
            }
        }
        let info = frame_info(jpeg).unwrap();
        let mut t = Tables::default();
        let nf = info.components.len();
        let mut blocks = vec![vec![]; nf];
        let hmax = info.components.iter().map(|c| c.h as u32).max().unwrap();
        let vmax = info.components.iter().map(|c| c.v as u32).max().unwrap();
        let (uw, uh) = if nf == 1 {
            (8, 8)
        } else {
            (8 * hmax, 8 * vmax)
        };
        let (gx, gy) = (
            info.width.div_ceil(uw) as usize,
            info.height.div_ceil(uh) as usize,
        );
        let cells = vec![false; gx * gy];
        let mut coded = [false; 4];
        let mut pos = 2;
        while let Some(seg) = segment_at(jpeg, pos).unwrap() {
            pos = seg.end;
            match seg.marker {
                DHT => {
                    for (class, id, spec) in HuffSpec::parse(seg.body, seg.start).unwrap() {
                        let slot = usize::from(class) * 4 + usize::from(id);
                        t.decoders[slot] = Some(spec.decoder());
                    }
                }
                DQT => parse_dqt(seg.body, seg.start, &mut t.q0).unwrap(),
                DRI => t.restart_interval = parse_dri(seg.body, seg.start).unwrap(),
                SOS => {
                    let scan = setup_scan(
                        jpeg,
                        &seg,
                        &info,
                        &t,
                        BlackLevel::Luma0,
                        &cells,
                        gx,
                        gy,
                        &mut coded,
                    )
                    .unwrap();
                    let comp_of: Vec<usize> = seg.body[1..1 + 2 * scan.comps.len()]
                        .chunks(2)
                        .map(|c| info.components.iter().position(|f| f.id == c[0]).unwrap())
                        .collect();
                    let per = scan
                        .comps
                        .iter()
                        .map(|c| if scan.interleaved() { c.h * c.v } else { 1 })
                        .collect();
                    let mut d = Dec {
                        blocks: std::mem::take(&mut blocks),
                        pred: [0; 4],
                        comp_of,
                        next: 0,
                        per,
                    };
                    pos = scan.walk(&mut d).unwrap().unwrap();
                    blocks = d.blocks;
                }
                EOI => break,
                _ => {}
            }
        }
        blocks
    }

    fn random_blocks(seed: u64, dc_range: i32) -> impl Fn(usize, usize) -> [i32; 64] {
        random_blocks_in(seed, dc_range, 300, 64)
    }

    /// Random blocks: DC in `-dc_range..=dc_range`, AC in `-ac_range..=ac_range` at zigzag
    /// positions below `ac_end` (64: anywhere, and now and then the last one).
    fn random_blocks_in(
        seed: u64,
        dc_range: i32,
        ac_range: i32,
        ac_end: usize,
    ) -> impl Fn(usize, usize) -> [i32; 64] {
        move |c, j| {
            let mut rng = fastrand::Rng::with_seed(seed ^ ((c as u64) << 32) ^ j as u64);
            let mut b = [0i32; 64];
            b[0] = rng.i32(-dc_range..=dc_range);
            let n = rng.usize(0..20);
            for _ in 0..n {
                let k = if rng.bool() {
                    rng.usize(1..10.min(ac_end))
                } else {
                    rng.usize(1..ac_end)
                };
                b[k] = rng.i32(-ac_range..=ac_range);
            }
            if ac_end == 64 && rng.u8(..) < 20 {
                b[63] = 1;
            }
            b
        }
    }

    /// The unit of each block of each component, in coding order.
    fn units_of(s: &Spec) -> (Vec<Vec<usize>>, usize, usize) {
        let n = s.sampling.len();
        let hmax = s.sampling.iter().map(|c| c.0 as u32).max().unwrap();
        let vmax = s.sampling.iter().map(|c| c.1 as u32).max().unwrap();
        let (uw, uh) = if n == 1 { (8, 8) } else { (8 * hmax, 8 * vmax) };
        let gx = s.width.div_ceil(uw) as usize;
        let gy = s.height.div_ceil(uh) as usize;
        let mut out = vec![];
        for (c, &(h, v)) in s.sampling.iter().enumerate() {
            let (h, v) = if n == 1 {
                (1, 1)
            } else {
                (h as usize, v as usize)
            };
            let mut units = vec![];
            if s.separate_scans || n == 1 {
                let bw = (s.width as usize * h)
                    .div_ceil(if n == 1 { 1 } else { hmax as usize })
                    .div_ceil(8);
                let bh = (s.height as usize * v)
                    .div_ceil(if n == 1 { 1 } else { vmax as usize })
                    .div_ceil(8);
                for j in 0..bw * bh {
                    units.push((j / bw / v) * gx + (j % bw) / h);
                }
            } else {
                for m in 0..gx * gy {
                    units.extend(std::iter::repeat_n(m, h * v));
                }
            }
            let _ = c;
            out.push(units);
        }
        (out, gx, uw as usize)
    }

    fn check(s: &Spec, seed: u64, regions: &[Rect], black: BlackLevel, expect_rebuilt: bool) {
        check_blocks(s, random_blocks(seed, 40), regions, black, expect_rebuilt);
    }

    /// Redacts a stream of these blocks in both modes; returns the stream and the fast mode's
    /// output.
    fn check_blocks(
        s: &Spec,
        coef: impl Fn(usize, usize) -> [i32; 64],
        regions: &[Rect],
        black: BlackLevel,
        expect_rebuilt: bool,
    ) -> (Vec<u8>, Vec<u8>) {
        let (jpeg, blocks) = encode(s, coef);
        assert_eq!(
            decode(&jpeg),
            blocks,
            "the test encoder and the decoder disagree"
        );
        let same = redact(&jpeg, &[], black, Mode::Full).unwrap();
        assert_eq!(
            same.data, jpeg,
            "coding again without a region changed the stream"
        );
        let (units, gx, uw) = units_of(s);
        let uh = if s.sampling.len() == 1 {
            8
        } else {
            8 * s.sampling.iter().map(|c| c.1 as usize).max().unwrap()
        };
        let hit = |u: usize| {
            let (cx, cy) = ((u % gx * uw) as u32, (u / gx * uh) as u32);
            regions.iter().any(|r| {
                r.x < (cx + uw as u32).min(s.width)
                    && cx < r.x + r.w
                    && r.y < (cy + uh as u32).min(s.height)
                    && cy < r.y + r.h
            })
        };
        let mut fast = vec![];
        for mode in [Mode::Fast, Mode::Full] {
            let out = redact(&jpeg, regions, black, mode).unwrap();
            assert_eq!(out.tables_rebuilt, expect_rebuilt, "{mode:?}");
            let got = decode(&out.data);
            let mut replaced = std::collections::BTreeSet::new();
            for (c, comp_blocks) in blocks.iter().enumerate() {
                assert_eq!(got[c].len(), comp_blocks.len());
                for (j, b) in comp_blocks.iter().enumerate() {
                    if hit(units[c][j]) {
                        replaced.insert(units[c][j]);
                        let mut black_block = [0i32; 64];
                        black_block[0] = black_dc(black, c, u16::from(s.q0), s.precision).unwrap();
                        assert_eq!(got[c][j], black_block, "{mode:?} component {c} block {j}");
                    } else {
                        assert_eq!(&got[c][j], b, "{mode:?} component {c} block {j} changed");
                    }
                }
            }
            assert_eq!(out.mcus_replaced, replaced.len());
            if mode == Mode::Fast {
                fast = out.data;
            }
        }
        (jpeg, fast)
    }

    /// All the symbols of 12-bit streams: DC categories 0 to 15, AC sizes 1 to 14.
    fn tables_12bit(zrl: bool) -> (HuffSpec, HuffSpec) {
        let mut dc = [0u64; 256];
        dc[..16].fill(1);
        let mut ac = [0u64; 256];
        for run in 0..16 {
            for size in 1..15 {
                ac[(run << 4) | size] = 1;
            }
        }
        ac[0] = 50;
        if zrl {
            ac[0xF0] = 1;
        }
        (HuffSpec::optimal(&dc), HuffSpec::optimal(&ac))
    }

    #[test]
    fn twelve_bit_extended_streams() {
        let regions = [rect(9, 3, 20, 11), rect(40, 40, 1, 30)];
        for sampling in [vec![(1, 1)], vec![(2, 2), (1, 1), (1, 1)]] {
            for (w, h) in [(67, 75), (8, 8)] {
                let mut s = Spec::new(w, h, &sampling);
                (s.sof, s.precision) = (0xC1, 12);
                (s.dc, s.ac) = tables_12bit(true);
                for (seed, black) in [(1, BlackLevel::Luma0), (2, BlackLevel::Max)] {
                    // differences of categories up to 15, coefficients up to 14
                    check_blocks(
                        &s,
                        random_blocks_in(seed, 16000, 16000, 64),
                        &regions,
                        black,
                        false,
                    );
                }
                s.restart = 3;
                check_blocks(
                    &s,
                    random_blocks_in(3, 2000, 9000, 64),
                    &regions,
                    BlackLevel::Luma0,
                    false,
                );
            }
        }
    }

    #[test]
    fn the_rest_of_the_scan_is_copied_as_it_was() {
        // A banner on top of a tall image: after it the source's bytes are copied as they are
        // (the replaced blocks take ZRL symbols to keep the bit alignment).
        for (seed, sampling) in [
            (1, vec![(1, 1)]),
            (2, vec![(2, 2), (1, 1), (1, 1)]),
            (3, vec![(2, 1), (1, 1), (1, 1)]),
        ] {
            for region in [rect(0, 0, 640, 20), rect(100, 5, 17, 3), rect(0, 40, 1, 1)] {
                let s = Spec::new(640, 200, &sampling);
                let (jpeg, out) = check_blocks(
                    &s,
                    random_blocks(seed, 40),
                    &[region],
                    BlackLevel::Luma0,
                    false,
                );
                let tail = jpeg.len() / 2;
                assert_eq!(
                    out[out.len() - tail..],
                    jpeg[jpeg.len() - tail..],
                    "{sampling:?} {region:?}"
                );
            }
        }
        // Without a ZRL code in the table, the rest is decoded to find its end, and copied
        // shifted; still the same blocks.
        let mut s = Spec::new(200, 120, &[(2, 2), (1, 1), (1, 1)]);
        let mut freq = [0u64; 256];
        for run in 0..15 {
            for size in 1..11 {
                freq[(run << 4) | size] = 1;
            }
        }
        freq[0] = 40;
        s.ac = HuffSpec::optimal(&freq);
        for seed in 0..8 {
            for region in [rect(0, 0, 200, 20), rect(30, 60, 50, 17)] {
                check_blocks(
                    &s,
                    random_blocks_in(seed, 40, 300, 16),
                    &[region],
                    BlackLevel::Luma0,
                    false,
                );
            }
        }
    }

    fn rect(x: u32, y: u32, w: u32, h: u32) -> Rect {
        Rect { x, y, w, h }
    }

    #[test]
    fn gray_and_color_layouts() {
        let regions = [rect(9, 3, 20, 11), rect(60, 40, 100, 100)];
        for sampling in [
            vec![(1, 1)],
            vec![(2, 2)],
            vec![(1, 1), (1, 1), (1, 1)],
            vec![(2, 1), (1, 1), (1, 1)],
            vec![(2, 2), (1, 1), (1, 1)],
            vec![(1, 2), (1, 1), (1, 1)],
            vec![(2, 2), (1, 1), (1, 1), (2, 2)],
        ] {
            for (w, h) in [(67, 45), (64, 48), (8, 8), (1, 1)] {
                let s = Spec::new(w, h, &sampling);
                check(&s, 7, &regions, BlackLevel::Luma0, false);
                check(&s, 8, &regions, BlackLevel::Rgb0, false);
                check(&s, 9, &[rect(0, 0, 1, 1)], BlackLevel::Max, false);
                let mut extended = Spec::new(w, h, &sampling);
                extended.sof = 0xC1;
                check(&extended, 10, &regions, BlackLevel::Luma0, false);
            }
        }
    }

    #[test]
    fn restart_intervals_and_separate_scans() {
        for restart in [1, 2, 3, 7] {
            for separate in [false, true] {
                let mut s = Spec::new(75, 41, &[(2, 2), (1, 1), (1, 1)]);
                s.restart = restart;
                s.separate_scans = separate;
                check(
                    &s,
                    u64::from(restart),
                    &[rect(20, 10, 17, 9)],
                    BlackLevel::Luma0,
                    false,
                );
                // More than 8 intervals: RST0..7 wrap around.
                let mut g = Spec::new(100, 90, &[(1, 1)]);
                g.restart = restart;
                check(
                    &g,
                    3,
                    &[rect(0, 0, 100, 8), rect(50, 80, 1, 1)],
                    BlackLevel::Luma0,
                    false,
                );
            }
        }
    }

    #[test]
    fn a_missing_dc_category_rebuilds_the_tables() {
        // DC categories 0 to 6 only: the way to black (-512 with Q[0] = 2) and back needs 10.
        let mut s = Spec::new(40, 24, &[(2, 1), (1, 1), (1, 1)]);
        let mut bits = [0u8; 17];
        bits[3] = 7;
        s.dc = HuffSpec {
            bits,
            vals: (0..7).collect(),
        };
        s.q0 = 2;
        s.restart = 2;
        check(&s, 1, &[rect(16, 0, 1, 1)], BlackLevel::Luma0, true);
        s.separate_scans = true;
        check(&s, 2, &[rect(0, 8, 16, 16)], BlackLevel::Luma0, true);
        // The tables it wrote are optimal for the new scan and the old ones restored after it.
        let (jpeg, _) = encode(&s, random_blocks(2, 40));
        let out = redact_frame(&jpeg, &[rect(0, 8, 16, 16)], BlackLevel::Luma0).unwrap();
        assert!(frame_info(&out.data).unwrap().scans == 3);
    }

    #[test]
    fn black_dc_reaches_black() {
        // A flat block decodes to DC * Q / 8 + 2^(P-1): black is the DC of smallest
        // magnitude that reaches 0 (after clamping), white the one that reaches 2^P - 1.
        for (precision, shift, qmax) in [(8u8, 128i64, 255u16), (12, 2048, 4095)] {
            for q in 1..=qmax {
                let sample = |dc: i32| i64::from(dc) * i64::from(q) / 8 + shift;
                let dc = black_dc(BlackLevel::Luma0, 0, q, precision).unwrap();
                assert!(sample(dc) <= 0 && sample(dc + 1) > 0, "q {q}");
                assert!(i64::from(dc) * i64::from(q) <= -8 * shift, "q {q}");
                let dc = black_dc(BlackLevel::Max, 0, q, precision).unwrap();
                assert!(
                    sample(dc) >= 2 * shift - 1 && sample(dc - 1) < 2 * shift - 1,
                    "q {q}"
                );
                assert_eq!(black_dc(BlackLevel::Luma0, 1, q, precision).unwrap(), 0);
                assert_eq!(
                    black_dc(BlackLevel::Rgb0, 2, q, precision).unwrap(),
                    black_dc(BlackLevel::Luma0, 0, q, precision).unwrap()
                );
            }
        }
    }

    #[test]
    fn refusals_say_why() {
        let (jpeg, _) = encode(&Spec::new(32, 32, &[(1, 1)]), random_blocks(1, 40));
        let msg = |data: &[u8]| {
            redact_frame(data, &[rect(0, 0, 8, 8)], BlackLevel::Luma0)
                .unwrap_err()
                .0
        };
        for (sof, what) in [
            (0xC2, "progressive JPEG (SOF2)"),
            (0xC3, "lossless"),
            (0xC9, "arithmetic coding (SOF9)"),
            (0xC5, "hierarchical"),
        ] {
            let mut s = Spec::new(16, 16, &[(1, 1)]);
            s.sof = sof;
            let (j, _) = encode(&s, random_blocks(1, 40));
            assert!(msg(&j).contains(what), "{}", msg(&j));
            assert!(frame_info(&j).is_ok());
        }
        let mut s = Spec::new(16, 16, &[(1, 1)]);
        s.precision = 12;
        assert!(msg(&encode(&s, random_blocks(1, 40)).0).contains("12-bit JPEG (SOF0)"));
        s.precision = 16;
        s.sof = 0xC1;
        assert!(msg(&encode(&s, random_blocks(1, 40)).0).contains("16-bit JPEG (SOF1)"));
        s = Spec::new(16, 16, &[(1, 1)]);
        s.height = 0;
        assert!(msg(&encode(&s, random_blocks(1, 40)).0).contains("DNL"));
        let cut = &jpeg[..jpeg.len() - 40];
        // Decoded up to the last MCU when it is replaced; bits past the last replaced MCU are
        // copied without being decoded, so a defect there stays as it was.
        let last = redact_frame(cut, &[rect(24, 24, 8, 8)], BlackLevel::Luma0).unwrap_err();
        assert!(last.0.contains("truncated scan at byte"), "{last}");
        let full = redact(cut, &[rect(0, 0, 8, 8)], BlackLevel::Luma0, Mode::Full).unwrap_err();
        assert!(full.0.contains("truncated scan at byte"), "{full}");
        assert!(msg(b"GIF89a").contains("no SOI"));
        let info = frame_info(&jpeg).unwrap();
        assert_eq!(
            (info.width, info.height, info.precision, info.scans),
            (32, 32, 8, 1)
        );
        assert!(!info.progressive && !info.arithmetic && !info.stored_as_rgb());
    }

    #[test]
    fn optimal_tables_are_limited_to_16_bits() {
        // Fibonacci counts make a Huffman tree deeper than 16.
        let mut freq = [0u64; 256];
        let (mut a, mut b) = (1u64, 1u64);
        for f in freq.iter_mut().take(30) {
            *f = a;
            (a, b) = (b, a + b);
        }
        let t = HuffSpec::optimal(&freq);
        assert_eq!(t.vals.len(), 30);
        assert!(t.codes().is_some());
        let e = t.encoder();
        assert!((0..30).all(|s| (1..=16).contains(&e.len[s])));
    }
}
