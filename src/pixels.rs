//! Clean Pixel Data on native (uncompressed) pixel data: regions of every frame blanked while
//! the value is copied, and overlay planes hidden in the bits above High Bit cleared.
//!
//! Nothing is decoded whole. A [`PixelEdit`] knows the layout of the pixel data (rows, columns,
//! frames, samples, planar configuration, bits, byte order) and the rows of each frame to
//! blank; the writer copies the value in chunks and each chunk passes through
//! [`PixelEdit::apply`], which rewrites only the bytes of the chunk that fall in a region. Peak
//! memory is one chunk, whatever the size of the file.
//!
//! Blank means the value that reads as black for the photometric interpretation: the Pixel
//! Padding Value when there is one (monochrome), else the lowest value (MONOCHROME2) or the
//! highest (MONOCHROME1), zero in every sample (RGB), Y at its lowest and Cb, Cr at their middle
//! (YBR_FULL, YBR_FULL_422: whole pixel pairs, which share Cb and Cr), the darkest entry of the
//! palette (PALETTE COLOR), 0.0 (Float and Double Float Pixel Data).

use std::collections::BTreeMap;

use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;

use crate::dataset::{trim_padding, Data, DataSet, DicomFile, Element, Value};

/// A rectangle in pixel coordinates: x, y of the top left corner, width, height.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

impl std::fmt::Display for Rect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "({},{},{},{})", self.x, self.y, self.w, self.h)
    }
}

/// What a region of a rule or a caller names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Area {
    Rect(Rect),
    /// The whole frame.
    WholeFrame,
    /// Everything outside the regions of the Sequence of Ultrasound Regions (0018,6011).
    OutsideUsRegions,
}

/// The photometric interpretations the blanking knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Photometric {
    Monochrome1,
    Monochrome2,
    Palette,
    Rgb,
    YbrFull,
    /// YBR_FULL_422 and YBR_PARTIAL_422: pixel pairs of Y1 Y2 Cb Cr.
    Ybr422 {
        partial: bool,
    },
}

/// How the pixel data of a file is laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The element holding the pixels: Pixel Data, Float or Double Float Pixel Data.
    pub tag: Tag,
    pub rows: u32,
    pub cols: u32,
    pub frames: u32,
    pub samples: u32,
    /// Planar Configuration 1: each sample's plane after the other.
    pub planar: bool,
    pub bits_allocated: u32,
    pub bits_stored: u32,
    pub high_bit: u32,
    pub signed: bool,
    pub photometric: Photometric,
    /// As written in the file, for messages and the frame API.
    pub photometric_name: String,
    pub big_endian: bool,
    /// 8- or 1-bit samples in an OW value of a big endian file: each 16-bit word is swapped,
    /// so the byte at logical position `i` is at `i ^ 1`.
    pub word_swap: bool,
    /// Float or Double Float Pixel Data.
    pub float: bool,
}

impl Layout {
    /// Bytes per sample (0 for 1-bit data).
    pub fn sample_bytes(&self) -> u64 {
        (self.bits_allocated / 8) as u64
    }

    /// Pixels per frame.
    pub fn pixels(&self) -> u64 {
        self.rows as u64 * self.cols as u64
    }

    /// Bytes per frame (for 1-bit data: bits per frame; frames are packed without padding).
    pub fn frame_len(&self) -> u64 {
        if self.bits_allocated == 1 {
            return self.pixels();
        }
        let per_pixel = match self.photometric {
            Photometric::Ybr422 { .. } => 2,
            _ => self.samples as u64,
        };
        self.pixels() * per_pixel * self.sample_bytes()
    }

    /// The length of the pixel data in bytes (before the padding byte).
    pub fn value_len(&self) -> u64 {
        let total = self.frame_len() * self.frames as u64;
        if self.bits_allocated == 1 {
            total.div_ceil(8)
        } else {
            total
        }
    }

    /// Read the layout of `file`'s pixel data (its top-level dataset). An error says what is
    /// missing or not supported.
    pub fn of(file: &DicomFile) -> Result<Layout, String> {
        let layout = Layout::header(file)?;
        let el = file.dataset.get(layout.tag).ok_or("has no pixel data")?;
        if matches!(el.value, Value::Fragments(_)) || file.transfer_syntax.encapsulated {
            return Err(format!(
                "has compressed pixel data (transfer syntax {}), which Clean Pixel Data \
                 cannot rewrite yet",
                file.transfer_syntax.uid
            ));
        }
        let have = match &el.value {
            Value::Primitive(d) => d.len(),
            _ => 0,
        };
        let want = layout.value_len();
        if have < want {
            return Err(format!(
                "has {have} bytes of pixel data where its {}x{}x{} {} layout needs {want}",
                layout.rows, layout.cols, layout.frames, layout.photometric_name
            ));
        }
        Ok(layout)
    }

    /// The layout the header describes, whatever the encoding of the pixel data (for
    /// compressed data, what the decoded frames are).
    pub fn header(file: &DicomFile) -> Result<Layout, String> {
        Layout::header_as(file, None)
    }

    /// [`Layout::header`], with this photometric interpretation in place of the header's
    /// (what a decoder outputs).
    pub fn header_as(file: &DicomFile, photometric: Option<&str>) -> Result<Layout, String> {
        let ds = &file.dataset;
        let (tag, el) = [
            tags::PIXEL_DATA,
            tags::FLOAT_PIXEL_DATA,
            tags::DOUBLE_FLOAT_PIXEL_DATA,
        ]
        .into_iter()
        .find_map(|t| ds.get(t).map(|e| (t, e)))
        .ok_or("has no pixel data")?;
        let big = file.transfer_syntax.big_endian;
        let us = |t: Tag| read_uint(ds, t, big);
        let need = |t: Tag, what: &str| us(t).ok_or_else(|| format!("has no valid {what}"));
        let rows = need(tags::ROWS, "Rows")?;
        let cols = need(tags::COLUMNS, "Columns")?;
        let float = tag != tags::PIXEL_DATA;
        let bits_allocated = match tag {
            t if t == tags::FLOAT_PIXEL_DATA => 32,
            t if t == tags::DOUBLE_FLOAT_PIXEL_DATA => 64,
            _ => need(tags::BITS_ALLOCATED, "Bits Allocated")?,
        };
        let bits_stored = if float {
            bits_allocated
        } else {
            us(tags::BITS_STORED).unwrap_or(bits_allocated)
        };
        let high_bit = if float {
            bits_allocated - 1
        } else {
            us(tags::HIGH_BIT).unwrap_or(bits_stored.saturating_sub(1))
        };
        let samples = us(tags::SAMPLES_PER_PIXEL).unwrap_or(1);
        let planar = samples > 1 && us(tags::PLANAR_CONFIGURATION) == Some(1);
        let signed = us(tags::PIXEL_REPRESENTATION) == Some(1);
        let frames = match ds.text(tags::NUMBER_OF_FRAMES) {
            None => 1,
            Some(t) => std::str::from_utf8(t)
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .filter(|&n| n > 0 && n <= u32::MAX as i64)
                .ok_or("has an invalid Number of Frames (not a positive number)")?
                as u32,
        };
        let photometric_name = photometric
            .map(str::to_string)
            .or_else(|| {
                ds.text(tags::PHOTOMETRIC_INTERPRETATION)
                    .map(|t| String::from_utf8_lossy(t).trim().to_string())
            })
            .unwrap_or_else(|| if samples == 3 { "RGB" } else { "MONOCHROME2" }.to_string());
        let photometric = match photometric_name.as_str() {
            "MONOCHROME1" => Photometric::Monochrome1,
            "MONOCHROME2" => Photometric::Monochrome2,
            "PALETTE COLOR" => Photometric::Palette,
            "RGB" => Photometric::Rgb,
            "YBR_FULL" => Photometric::YbrFull,
            "YBR_FULL_422" => Photometric::Ybr422 { partial: false },
            "YBR_PARTIAL_422" => Photometric::Ybr422 { partial: true },
            other => {
                return Err(format!(
                    "has native pixel data of photometric interpretation {other:?}, which \
                     Clean Pixel Data does not support"
                ))
            }
        };
        let color = matches!(
            photometric,
            Photometric::Rgb | Photometric::YbrFull | Photometric::Ybr422 { .. }
        );
        if color != (samples == 3) || (!color && samples != 1) {
            return Err(format!(
                "has {samples} samples per pixel for {photometric_name}, which does not fit"
            ));
        }
        if !matches!(bits_allocated, 1 | 8 | 16 | 32 | 64)
            || (bits_allocated == 64 && !float)
            || (bits_allocated == 1 && samples != 1)
        {
            return Err(format!(
                "has {bits_allocated} bits allocated for {samples} sample(s), which Clean \
                 Pixel Data does not support"
            ));
        }
        if bits_stored == 0 || bits_stored > bits_allocated || high_bit >= bits_allocated {
            return Err(format!(
                "has inconsistent bits (allocated {bits_allocated}, stored {bits_stored}, \
                 high bit {high_bit})"
            ));
        }
        let native = !file.transfer_syntax.encapsulated;
        if native && matches!(photometric, Photometric::Ybr422 { .. }) && (planar || cols % 2 == 1)
        {
            return Err(format!(
                "has {photometric_name} pixels with planar configuration 1 or an odd number \
                 of columns, which is not a valid layout"
            ));
        }
        let word_swap = big && bits_allocated <= 8 && el.vr == VR::OW;
        let layout = Layout {
            tag,
            rows,
            cols,
            frames,
            samples,
            planar,
            bits_allocated,
            bits_stored,
            high_bit,
            signed,
            photometric,
            photometric_name,
            big_endian: big,
            word_swap,
            float,
        };
        Ok(layout)
    }

    /// The bytes of one sample's blank value, in the file's byte order.
    fn sample_bytes_of(&self, value: u64) -> Vec<u8> {
        let n = self.sample_bytes() as usize;
        let le = value.to_le_bytes();
        let mut v = le[..n].to_vec();
        if self.big_endian {
            v.reverse();
        }
        v
    }
}

/// An unsigned number (US, UL or IS) of the dataset.
fn read_uint(ds: &DataSet, tag: Tag, big: bool) -> Option<u32> {
    let el = ds.get(tag)?;
    let bytes = el.inline_bytes()?;
    match el.vr {
        VR::IS => std::str::from_utf8(trim_padding(bytes))
            .ok()?
            .trim()
            .parse()
            .ok(),
        VR::UL => {
            let b: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
            Some(if big {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            })
        }
        _ => {
            let b: [u8; 2] = bytes.get(..2)?.try_into().ok()?;
            Some(if big {
                u16::from_be_bytes(b)
            } else {
                u16::from_le_bytes(b)
            } as u32)
        }
    }
}

/// A run of pixels of one row to blank: `[x0, x1)` of row `y`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span {
    pub y: u32,
    pub x0: u32,
    pub x1: u32,
}

/// Spans of a frame, merged: sorted by row, then x, no two overlapping in a row.
fn merge(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_unstable();
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans {
        match out.last_mut() {
            Some(last) if last.y == s.y && s.x0 <= last.x1 => last.x1 = last.x1.max(s.x1),
            _ => out.push(s),
        }
    }
    out
}

/// The spans of a rectangle clipped to the image (none when it misses the image).
fn rect_spans(r: Rect, layout: &Layout) -> Vec<Span> {
    let x1 = r.x.saturating_add(r.w).min(layout.cols);
    let y1 = r.y.saturating_add(r.h).min(layout.rows);
    if r.x >= x1 || r.y >= y1 {
        return Vec::new();
    }
    (r.y..y1).map(|y| Span { y, x0: r.x, x1 }).collect()
}

/// The rectangles of the Sequence of Ultrasound Regions (inclusive max coordinates, clipped).
fn us_regions(file: &DicomFile) -> Vec<Rect> {
    let big = file.transfer_syntax.big_endian;
    let Some(Element {
        value: Value::Sequence(items),
        ..
    }) = file.dataset.get(tags::SEQUENCE_OF_ULTRASOUND_REGIONS)
    else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let x0 = read_uint(item, tags::REGION_LOCATION_MIN_X0, big)?;
            let y0 = read_uint(item, tags::REGION_LOCATION_MIN_Y0, big)?;
            let x1 = read_uint(item, tags::REGION_LOCATION_MAX_X1, big)?;
            let y1 = read_uint(item, tags::REGION_LOCATION_MAX_Y1, big)?;
            (x1 >= x0 && y1 >= y0).then(|| Rect {
                x: x0,
                y: y0,
                w: x1 - x0 + 1,
                h: y1 - y0 + 1,
            })
        })
        .collect()
}

/// The spans of everything outside `keep` (merged spans).
fn complement(keep: &[Span], layout: &Layout) -> Vec<Span> {
    let mut out = Vec::new();
    let mut it = keep.iter().peekable();
    for y in 0..layout.rows {
        let mut x = 0;
        while let Some(s) = it.next_if(|s| s.y == y) {
            if s.x0 > x {
                out.push(Span { y, x0: x, x1: s.x0 });
            }
            x = x.max(s.x1);
        }
        if x < layout.cols {
            out.push(Span {
                y,
                x0: x,
                x1: layout.cols,
            });
        }
    }
    out
}

/// The spans an area covers in `file`'s frames; `None` when it misses the image entirely.
pub fn area_spans(area: &Area, file: &DicomFile, layout: &Layout) -> Option<Vec<Span>> {
    let spans = match area {
        Area::Rect(r) => rect_spans(*r, layout),
        Area::WholeFrame => rect_spans(
            Rect {
                x: 0,
                y: 0,
                w: layout.cols,
                h: layout.rows,
            },
            layout,
        ),
        Area::OutsideUsRegions => {
            let keep = us_regions(file)
                .into_iter()
                .flat_map(|r| rect_spans(r, layout))
                .collect();
            complement(&merge(keep), layout)
        }
    };
    (!spans.is_empty() || matches!(area, Area::OutsideUsRegions)).then_some(spans)
}

/// The change made to a native pixel data value while it is copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PixelEdit {
    pub layout: Layout,
    /// The blank pixel, as bytes in the file's order: one sample's bytes per sample (planar
    /// configuration 0: the whole pixel; 1: indexed by plane), or a pixel pair for YBR 4:2:2.
    /// For 1-bit data: one byte, 0 or 1.
    blank: Vec<u8>,
    /// Spans blanked in every frame.
    common: Vec<Span>,
    /// Spans blanked in one frame only (by frame index).
    frames: BTreeMap<u32, Vec<Span>>,
    /// Bits of every sample to clear (overlay planes in the unused high bits), as a mask of
    /// the bits kept; `None`: nothing cleared.
    keep_bits: Option<u64>,
    /// An edit made before this one (a file de-identified twice in memory), applied first.
    pub(crate) prior: Option<std::sync::Arc<PixelEdit>>,
}

impl PixelEdit {
    /// An edit that blanks nothing yet, for `file` of `layout`.
    pub fn new(file: &DicomFile, layout: Layout) -> PixelEdit {
        let blank = blank_pixel(file, &layout);
        PixelEdit {
            layout,
            blank,
            common: Vec::new(),
            frames: BTreeMap::new(),
            keep_bits: None,
            prior: None,
        }
    }

    /// Blank these spans in every frame.
    pub fn blank_all(&mut self, spans: Vec<Span>) {
        let mut all = std::mem::take(&mut self.common);
        all.extend(spans);
        self.common = merge(all);
    }

    /// Blank these spans in one frame (ignored when the frame does not exist).
    pub fn blank_frame(&mut self, frame: u32, spans: Vec<Span>) {
        if frame >= self.layout.frames {
            return;
        }
        let all = self.frames.entry(frame).or_default();
        all.extend(spans);
        *all = merge(std::mem::take(all));
    }

    /// Clear these bit positions in every sample (overlay planes in the unused high bits).
    pub fn clear_bits(&mut self, positions: &[u32]) {
        let mut mask = self.keep_bits.unwrap_or(u64::MAX);
        for &p in positions {
            if p < self.layout.bits_allocated && p > self.layout.high_bit {
                mask &= !(1u64 << p);
            }
        }
        if mask != u64::MAX {
            self.keep_bits = Some(mask);
        }
    }

    /// Whether the edit changes anything.
    pub fn is_empty(&self) -> bool {
        self.common.is_empty() && self.frames.is_empty() && self.keep_bits.is_none()
    }

    /// Whether it blanks any region (not only overlay bits).
    pub fn blanks(&self) -> bool {
        !self.common.is_empty() || !self.frames.is_empty()
    }

    /// Rewrite `buf`, the bytes of the value at `offset` (from its start). Chunks given in
    /// order need not be aligned, but for the overlay bits an offset must be a multiple of
    /// the sample size (the writer's chunks are).
    pub fn apply(&self, offset: u64, buf: &mut [u8]) {
        if buf.is_empty() {
            return;
        }
        if let Some(prior) = &self.prior {
            prior.apply(offset, buf);
        }
        let l = &self.layout;
        if let Some(keep) = self.keep_bits {
            self.apply_keep_bits(keep, offset, buf);
        }
        if !self.blanks() {
            return;
        }
        let end = offset + buf.len() as u64;
        let frame_len = l.frame_len();
        if frame_len == 0 || l.frames == 0 {
            return;
        }
        // the frames the chunk overlaps (for 1-bit data, frame_len counts bits)
        let (first, last) = if l.bits_allocated == 1 {
            (offset * 8 / frame_len, ((end * 8 - 1) / frame_len))
        } else {
            (offset / frame_len, (end - 1) / frame_len)
        };
        let last = last.min(l.frames as u64 - 1);
        for f in first..=last {
            let extra = self.frames.get(&(f as u32));
            for span in self.common.iter().chain(extra.into_iter().flatten()) {
                self.blank_span(f, span, offset, buf);
            }
        }
    }

    fn blank_span(&self, frame: u64, s: &Span, offset: u64, buf: &mut [u8]) {
        let l = &self.layout;
        let base = frame * l.frame_len();
        let row = s.y as u64 * l.cols as u64;
        if l.bits_allocated == 1 {
            let b0 = base + row + s.x0 as u64;
            let b1 = base + row + s.x1 as u64;
            self.fill_bits(b0, b1, self.blank[0] != 0, offset, buf);
            return;
        }
        let sb = l.sample_bytes();
        match l.photometric {
            Photometric::Ybr422 { .. } => {
                let x0 = (s.x0 & !1) as u64;
                let x1 = (s.x1 as u64).div_ceil(2) * 2;
                let start = base + (row + x0) * 2 * sb;
                let stop = base + (row + x1) * 2 * sb;
                self.fill(start, stop, &self.blank, offset, buf);
            }
            _ if l.planar => {
                let plane = l.pixels() * sb;
                for p in 0..l.samples as u64 {
                    let start = base + p * plane + (row + s.x0 as u64) * sb;
                    let stop = base + p * plane + (row + s.x1 as u64) * sb;
                    let one = &self.blank[(p * sb) as usize..((p + 1) * sb) as usize];
                    self.fill(start, stop, one, offset, buf);
                }
            }
            _ => {
                let px = l.samples as u64 * sb;
                let start = base + (row + s.x0 as u64) * px;
                let stop = base + (row + s.x1 as u64) * px;
                self.fill(start, stop, &self.blank, offset, buf);
            }
        }
    }

    /// Fill logical bytes `[start, stop)` of the value with `pattern` repeated (from
    /// `start`), where they fall in `buf` (the bytes at `offset`).
    fn fill(&self, start: u64, stop: u64, pattern: &[u8], offset: u64, buf: &mut [u8]) {
        let end = offset + buf.len() as u64;
        let n = pattern.len() as u64;
        if self.layout.word_swap {
            // each byte lives at its position ^ 1
            let lo = start.max(offset.saturating_sub(1) & !1);
            let hi = stop.min(end + 1);
            for i in lo..hi {
                let phys = i ^ 1;
                if (offset..end).contains(&phys) {
                    buf[(phys - offset) as usize] = pattern[((i - start) % n) as usize];
                }
            }
            return;
        }
        let lo = start.max(offset);
        let hi = stop.min(end);
        if lo >= hi {
            return;
        }
        let out = &mut buf[(lo - offset) as usize..(hi - offset) as usize];
        let phase = ((lo - start) % n) as usize;
        if n == 1 || pattern.iter().all(|&b| b == pattern[0]) {
            out.fill(pattern[0]);
            return;
        }
        // one period, then doubled by copies (memcpy speed whatever the pattern)
        let n = n as usize;
        let first = n.min(out.len());
        for (i, b) in out[..first].iter_mut().enumerate() {
            *b = pattern[(phase + i) % n];
        }
        let mut filled = first;
        while filled < out.len() {
            let k = filled.min(out.len() - filled);
            out.copy_within(0..k, filled);
            filled += k;
        }
    }

    /// Set bits `[b0, b1)` of the value (bit `i` is bit `i % 8` of byte `i / 8`, PS3.5 8.1.1).
    fn fill_bits(&self, b0: u64, b1: u64, on: bool, offset: u64, buf: &mut [u8]) {
        let end = offset + buf.len() as u64;
        let byte_lo = (b0 / 8).max(offset.saturating_sub(1) & !1);
        let byte_hi = b1.div_ceil(8).min(end + 1);
        for byte in byte_lo..byte_hi {
            let bit_lo = (byte * 8).max(b0);
            let bit_hi = (byte * 8 + 8).min(b1);
            if bit_lo >= bit_hi {
                continue;
            }
            let width = bit_hi - bit_lo;
            let mask = (((1u16 << width) - 1) << (bit_lo - byte * 8)) as u8;
            let phys = if self.layout.word_swap {
                byte ^ 1
            } else {
                byte
            };
            if (offset..end).contains(&phys) {
                let b = &mut buf[(phys - offset) as usize];
                *b = if on { *b | mask } else { *b & !mask };
            }
        }
    }

    fn apply_keep_bits(&self, keep: u64, offset: u64, buf: &mut [u8]) {
        let l = &self.layout;
        let sb = l.sample_bytes() as usize;
        if sb < 2 {
            return;
        }
        // samples wholly inside the chunk
        let skip = ((sb as u64 - offset % sb as u64) % sb as u64) as usize;
        let skip = skip.min(buf.len());
        for sample in buf[skip..].chunks_exact_mut(sb) {
            let mut v = [0u8; 8];
            if l.big_endian {
                v[8 - sb..].copy_from_slice(sample);
                let x = u64::from_be_bytes(v) & keep;
                sample.copy_from_slice(&x.to_be_bytes()[8 - sb..]);
            } else {
                v[..sb].copy_from_slice(sample);
                let x = u64::from_le_bytes(v) & keep;
                sample.copy_from_slice(&x.to_le_bytes()[..sb]);
            }
        }
    }

    /// Call `f(start, end)` with the byte ranges of the value (of `len` bytes) that the edit
    /// may change, in order, without overlap; ranges less than `gap` apart are joined (the
    /// bytes between them then pass through the edit unchanged). The whole value where bits
    /// are cleared in every sample, for 1-bit data, and over an earlier edit. One frame's
    /// ranges are held at a time.
    pub fn touched(
        &self,
        len: u64,
        gap: u64,
        f: &mut dyn FnMut(u64, u64) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let l = &self.layout;
        if self.keep_bits.is_some() || self.prior.is_some() || l.bits_allocated == 1 {
            return if len > 0 { f(0, len) } else { Ok(()) };
        }
        let sb = l.sample_bytes();
        let frame_len = l.frame_len();
        let mut pending: Option<(u64, u64)> = None;
        let mut ranges: Vec<(u64, u64)> = Vec::new();
        for frame in 0..l.frames as u64 {
            ranges.clear();
            let base = frame * frame_len;
            let extra = self.frames.get(&(frame as u32));
            for s in self.common.iter().chain(extra.into_iter().flatten()) {
                let row = s.y as u64 * l.cols as u64;
                let (x0, x1) = (s.x0 as u64, s.x1 as u64);
                match l.photometric {
                    Photometric::Ybr422 { .. } => {
                        let (x0, x1) = (x0 & !1, x1.div_ceil(2) * 2);
                        ranges.push((base + (row + x0) * 2 * sb, base + (row + x1) * 2 * sb));
                    }
                    _ if l.planar => {
                        let plane = l.pixels() * sb;
                        for p in 0..l.samples as u64 {
                            let at = base + p * plane;
                            ranges.push((at + (row + x0) * sb, at + (row + x1) * sb));
                        }
                    }
                    _ => {
                        let px = l.samples as u64 * sb;
                        ranges.push((base + (row + x0) * px, base + (row + x1) * px));
                    }
                }
            }
            ranges.sort_unstable();
            for &(a, b) in &ranges {
                // 8-bit samples in swapped words: whole words
                let (a, b) = if l.word_swap {
                    (a & !1, b.div_ceil(2) * 2)
                } else {
                    (a, b)
                };
                let (a, b) = (a.min(len), b.min(len));
                if a >= b {
                    continue;
                }
                pending = match pending {
                    Some((pa, pb)) if a <= pb.saturating_add(gap) => Some((pa, pb.max(b))),
                    Some((pa, pb)) => {
                        f(pa, pb)?;
                        Some((a, b))
                    }
                    None => Some((a, b)),
                };
            }
        }
        if let Some((a, b)) = pending {
            f(a, b)?;
        }
        Ok(())
    }

    /// The spans of every frame, for reports and tests: (frame or None for all, spans).
    pub fn spans(&self) -> impl Iterator<Item = (Option<u32>, &[Span])> {
        std::iter::once((None, self.common.as_slice()))
            .chain(self.frames.iter().map(|(f, s)| (Some(*f), s.as_slice())))
    }
}

/// The blank pixel of `layout` (see [`PixelEdit::blank`]).
fn blank_pixel(file: &DicomFile, l: &Layout) -> Vec<u8> {
    if l.float {
        return vec![0; l.sample_bytes() as usize];
    }
    let shift = l.high_bit + 1 - l.bits_stored;
    let stored_mask = if l.bits_stored >= 64 {
        u64::MAX
    } else {
        (1u64 << l.bits_stored) - 1
    };
    // a stored value (two's complement in bits_stored bits when signed) placed at high bit
    let encode = |v: i64| -> u64 {
        let bits = (v as u64) & stored_mask;
        let placed = bits << shift;
        if l.signed && v < 0 && l.bits_allocated < 64 {
            // sign-extended through the allocated bits, as a plain reader expects
            let all = (1u64 << l.bits_allocated) - 1;
            (placed | (all & !((stored_mask << shift) | ((1u64 << shift) - 1)))) & all
        } else {
            placed
        }
    };
    let (min, max) = if l.signed {
        (
            -(1i64 << (l.bits_stored - 1)),
            (1i64 << (l.bits_stored - 1)) - 1,
        )
    } else {
        (0, stored_mask as i64)
    };
    if l.bits_allocated == 1 {
        let black = match l.photometric {
            Photometric::Monochrome1 => 1,
            _ => 0,
        };
        return vec![black];
    }
    let mono = |black: i64| -> Vec<u8> {
        let padding = file
            .dataset
            .get(tags::PIXEL_PADDING_VALUE)
            .and_then(|e| e.inline_bytes())
            .and_then(|b| b.get(..2))
            .map(|b| {
                let raw = if l.big_endian {
                    u16::from_be_bytes([b[0], b[1]])
                } else {
                    u16::from_le_bytes([b[0], b[1]])
                };
                if l.signed {
                    raw as i16 as i64
                } else {
                    raw as i64
                }
            });
        l.sample_bytes_of(encode(padding.unwrap_or(black)))
    };
    match l.photometric {
        Photometric::Monochrome2 => mono(min),
        Photometric::Monochrome1 => mono(max),
        Photometric::Palette => l.sample_bytes_of(encode(darkest_palette_entry(file))),
        Photometric::Rgb => vec![0; 3 * l.sample_bytes() as usize],
        Photometric::YbrFull | Photometric::Ybr422 { .. } => {
            let mid = l.sample_bytes_of(encode(1i64 << (l.bits_stored - 1)));
            let y = match l.photometric {
                // studio swing: black is 16 of 255
                Photometric::Ybr422 { partial: true } => {
                    l.sample_bytes_of(encode(16i64 << l.bits_stored.saturating_sub(8)))
                }
                _ => l.sample_bytes_of(encode(0)),
            };
            let mut v = Vec::new();
            if matches!(l.photometric, Photometric::Ybr422 { .. }) {
                v.extend(&y);
            }
            v.extend(&y);
            v.extend(&mid);
            v.extend(&mid);
            v
        }
    }
}

/// The pixel value of the darkest entry of the palette (the sum of red, green and blue
/// lowest); the first mapped value when the palette's data is not there (segmented palettes).
fn darkest_palette_entry(file: &DicomFile) -> i64 {
    let big = file.transfer_syntax.big_endian;
    let ds = &file.dataset;
    let words = |tag: Tag| -> Option<Vec<u16>> {
        let el = ds.get(tag)?;
        let bytes = match &el.value {
            Value::Primitive(d) => d.bytes(&file.source).ok()?.into_owned(),
            _ => return None,
        };
        Some(
            bytes
                .chunks_exact(2)
                .map(|c| {
                    if big {
                        u16::from_be_bytes([c[0], c[1]])
                    } else {
                        u16::from_le_bytes([c[0], c[1]])
                    }
                })
                .collect(),
        )
    };
    let first = words(tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR)
        .and_then(|d| d.get(1).copied())
        .unwrap_or(0) as i64;
    let (Some(r), Some(g), Some(b)) = (
        words(tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DATA),
        words(tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA),
        words(tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA),
    ) else {
        return first;
    };
    let n = r.len().min(g.len()).min(b.len());
    let darkest = (0..n)
        .min_by_key(|&i| r[i] as u32 + g[i] as u32 + b[i] as u32)
        .unwrap_or(0);
    first + darkest as i64
}

/// The overlay groups whose planes live in the pixel data's unused high bits (no Overlay Data
/// of their own; Overlay Bits Allocated above 1 and Overlay Bit Position above High Bit, the
/// retired usage of PS3.5 8.1.2), with their bit positions.
pub fn embedded_overlays(file: &DicomFile, layout: &Layout) -> Vec<(u16, u32)> {
    let big = file.transfer_syntax.big_endian;
    let ds = &file.dataset;
    (0x6000u16..=0x601E)
        .step_by(2)
        .filter(|&g| ds.get(Tag(g, 0x3000)).is_none())
        .filter_map(|g| {
            let allocated = read_uint(ds, Tag(g, 0x0100), big)?;
            let position = read_uint(ds, Tag(g, 0x0102), big)?;
            (allocated > 1 && position > layout.high_bit && position < layout.bits_allocated)
                .then_some((g, position))
        })
        .collect()
}

/// Apply `edit` to `file`'s pixel data: a value held in memory is rewritten now, one in the
/// source becomes [`Data::Edited`] and is rewritten as it is written; frames decoded as they
/// are written take it after their own. An error says why the value cannot be read.
pub fn attach(file: &mut DicomFile, edit: PixelEdit) -> Result<(), String> {
    let tag = edit.layout.tag;
    let Some(el) = file.dataset.get_mut(tag) else {
        return Ok(());
    };
    let Value::Primitive(data) = &mut el.value else {
        return Ok(());
    };
    match data {
        Data::Inline(bytes) => edit.apply(0, bytes),
        Data::Frames(frames) => *data = Data::Frames(std::sync::Arc::new(frames.with_edit(edit))),
        Data::Spooled { .. } => {
            let mut bytes = data
                .bytes(&file.source)
                .map_err(|e| format!("cannot be read: {e}"))?
                .into_owned();
            edit.apply(0, &mut bytes);
            *data = Data::Inline(bytes);
        }
        Data::Source { offset, len } => {
            *data = Data::Edited {
                offset: *offset,
                len: *len,
                edit: std::sync::Arc::new(edit),
            }
        }
        Data::Edited {
            offset,
            len,
            edit: prior,
        } => {
            let mut edit = edit;
            edit.prior = Some(prior.clone());
            *data = Data::Edited {
                offset: *offset,
                len: *len,
                edit: std::sync::Arc::new(edit),
            }
        }
    }
    Ok(())
}

/// The bytes of frame `index` in logical order: word swapping undone, 1-bit pixels unpacked
/// to one byte each (0 or 1). The frame API hands these out.
pub fn frame_bytes(file: &DicomFile, layout: &Layout, index: u32) -> std::io::Result<Vec<u8>> {
    if index >= layout.frames {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("frame {index} of {}", layout.frames),
        ));
    }
    let el = file
        .dataset
        .get(layout.tag)
        .ok_or_else(|| std::io::Error::other("no pixel data"))?;
    let Value::Primitive(data) = &el.value else {
        return Err(std::io::Error::other("pixel data is not native"));
    };
    let fl = layout.frame_len();
    let (start, len) = if layout.bits_allocated == 1 {
        let b0 = index as u64 * fl;
        (b0 / 8, (b0 + fl).div_ceil(8) - b0 / 8)
    } else {
        (index as u64 * fl, fl)
    };
    // an even window, so swapped words are whole
    let wstart = start & !1;
    let wlen = (start + len).div_ceil(2) * 2 - wstart;
    let wlen = wlen.min(data.len().saturating_sub(wstart));
    let mut bytes = read_range(data, &file.source, wstart, wlen)?;
    if layout.word_swap {
        for pair in bytes.chunks_exact_mut(2) {
            pair.swap(0, 1);
        }
    }
    let lo = (start - wstart) as usize;
    if layout.bits_allocated == 1 {
        let b0 = index as u64 * fl - wstart * 8;
        return Ok((0..fl)
            .map(|i| {
                let bit = b0 + i;
                (bytes[(bit / 8) as usize] >> (bit % 8)) & 1
            })
            .collect());
    }
    Ok(bytes[lo..lo + len as usize].to_vec())
}

/// `len` bytes at `offset` of a value (edits applied).
fn read_range(
    data: &Data,
    source: &crate::dataset::Source,
    offset: u64,
    len: u64,
) -> std::io::Result<Vec<u8>> {
    data.read_part(source, offset, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(v: u16, big: bool) -> Vec<u8> {
        if big {
            v.to_be_bytes().to_vec()
        } else {
            v.to_le_bytes().to_vec()
        }
    }

    /// A file of `rows` x `cols` x `frames` with these bits and photometric interpretation,
    /// pixel data `pixels` held inline.
    #[allow(clippy::too_many_arguments)]
    fn file(
        rows: u16,
        cols: u16,
        frames: u32,
        bits: u16,
        photometric: &str,
        big: bool,
        vr: VR,
        pixels: Vec<u8>,
    ) -> DicomFile {
        let samples: u16 = if photometric.starts_with("RGB") { 3 } else { 1 };
        let mut ds = DataSet::new();
        ds.put(Element::bytes(
            tags::SAMPLES_PER_PIXEL,
            VR::US,
            us(samples, big),
        ));
        ds.put(Element::text(
            tags::PHOTOMETRIC_INTERPRETATION,
            VR::CS,
            &[photometric],
        ));
        ds.put(Element::text(
            tags::NUMBER_OF_FRAMES,
            VR::IS,
            &[&frames.to_string()],
        ));
        ds.put(Element::bytes(tags::ROWS, VR::US, us(rows, big)));
        ds.put(Element::bytes(tags::COLUMNS, VR::US, us(cols, big)));
        ds.put(Element::bytes(tags::BITS_ALLOCATED, VR::US, us(bits, big)));
        ds.put(Element::bytes(tags::BITS_STORED, VR::US, us(bits, big)));
        ds.put(Element::bytes(
            tags::HIGH_BIT,
            VR::US,
            us(bits.max(1) - 1, big),
        ));
        ds.put(Element::bytes(
            tags::PIXEL_REPRESENTATION,
            VR::US,
            us(0, big),
        ));
        ds.put(Element::bytes(tags::PIXEL_DATA, vr, pixels));
        DicomFile {
            dataset: ds,
            ..crate::dataset::test_file(big)
        }
    }

    fn rect(x: u32, y: u32, w: u32, h: u32) -> Vec<Span> {
        (y..y + h)
            .map(|y| Span {
                y,
                x0: x,
                x1: x + w,
            })
            .collect()
    }

    /// Applying an edit chunk by chunk, at every chunk size, gives what one pass gives.
    fn chunked_same(edit: &PixelEdit, data: &[u8]) -> Vec<u8> {
        let mut whole = data.to_vec();
        edit.apply(0, &mut whole);
        for chunk in [2usize, 4, 6, 8, 14, 64] {
            let mut out = data.to_vec();
            let mut at = 0;
            while at < out.len() {
                let end = (at + chunk).min(out.len());
                edit.apply(at as u64, &mut out[at..end]);
                at = end;
            }
            assert_eq!(out, whole, "chunk size {chunk}");
        }
        whole
    }

    /// What the writer does: the touched ranges through the edit (from their start), the
    /// rest copied as it is.
    fn written(edit: &PixelEdit, data: &[u8], gap: u64) -> Vec<u8> {
        let mut out = Vec::new();
        let mut at = 0usize;
        edit.touched(data.len() as u64, gap, &mut |a, b| {
            let (a, b) = (a as usize, b as usize);
            out.extend_from_slice(&data[at..a]);
            let mut part = data[a..b].to_vec();
            edit.apply(a as u64, &mut part);
            out.extend_from_slice(&part);
            at = b;
            Ok(())
        })
        .unwrap();
        out.extend_from_slice(&data[at..]);
        out
    }

    #[test]
    fn touched_ranges_cover_every_change() {
        let data: Vec<u8> = (0..3 * 2 * 10 * 12 * 2).map(|i| (i % 251) as u8).collect();
        for (photometric, planar) in [("MONOCHROME2", false), ("RGB", false), ("RGB", true)] {
            let samples = if photometric == "RGB" { 3 } else { 1 };
            let len = 2 * 10 * 12 * 2 * samples;
            let mut f = file(
                10,
                12,
                2,
                16,
                photometric,
                false,
                VR::OW,
                data[..len].to_vec(),
            );
            if planar {
                f.dataset.put(Element::bytes(
                    tags::PLANAR_CONFIGURATION,
                    VR::US,
                    us(1, false),
                ));
            }
            let layout = Layout::of(&f).unwrap();
            let mut edit = PixelEdit::new(&f, layout);
            edit.blank_all(rect(1, 2, 3, 2));
            edit.blank_all(rect(9, 8, 3, 2));
            edit.blank_frame(1, rect(0, 0, 12, 1));
            let mut whole = data[..len].to_vec();
            edit.apply(0, &mut whole);
            assert_ne!(whole, data[..len]);
            for gap in [0, 4, 1 << 20] {
                assert_eq!(
                    written(&edit, &data[..len], gap),
                    whole,
                    "{photometric} {planar} {gap}"
                );
            }
        }
    }

    #[test]
    fn eight_bit_in_big_endian_ow_has_its_words_swapped() {
        // 4 x 4 pixels, value = index; stored as 16-bit words swapped
        let logical: Vec<u8> = (1..=16).collect();
        let mut physical = logical.clone();
        for pair in physical.chunks_exact_mut(2) {
            pair.swap(0, 1);
        }
        let f = file(4, 4, 1, 8, "MONOCHROME2", true, VR::OW, physical.clone());
        let layout = Layout::of(&f).unwrap();
        assert!(layout.word_swap);
        let mut edit = PixelEdit::new(&f, layout.clone());
        edit.blank_all(rect(1, 1, 2, 2));
        let out = chunked_same(&edit, &physical);
        assert_eq!(written(&edit, &physical, 0), out);
        let mut expect = logical.clone();
        for i in [5, 6, 9, 10] {
            expect[i] = 0;
        }
        let mut expect_phys = expect;
        for pair in expect_phys.chunks_exact_mut(2) {
            pair.swap(0, 1);
        }
        assert_eq!(out, expect_phys);
        // the frame API undoes the swap
        let mut g = f.clone();
        attach(&mut g, edit).unwrap();
        let frame = frame_bytes(&g, &layout, 0).unwrap();
        assert_eq!(frame[..4], [1, 2, 3, 4]);
        assert_eq!(frame[5..7], [0, 0]);
    }

    #[test]
    fn one_bit_frames_packed_across_bytes() {
        // 3 x 3, 3 frames: 27 bits, frame 1 starts at bit 9
        let data = vec![0xFFu8; 4];
        let f = file(3, 3, 3, 1, "MONOCHROME2", false, VR::OW, data.clone());
        let layout = Layout::of(&f).unwrap();
        let mut edit = PixelEdit::new(&f, layout.clone());
        edit.blank_frame(1, rect(0, 1, 2, 1)); // frame 1, row 1, x 0..2: bits 12, 13
        let out = chunked_same(&edit, &data);
        let cleared: Vec<usize> = (0..32).filter(|b| out[b / 8] >> (b % 8) & 1 == 0).collect();
        assert_eq!(cleared, [12, 13]);
        let mut g = f.clone();
        attach(&mut g, edit).unwrap();
        assert_eq!(
            frame_bytes(&g, &layout, 1).unwrap(),
            [1, 1, 1, 0, 0, 1, 1, 1, 1]
        );
        assert_eq!(frame_bytes(&g, &layout, 2).unwrap(), [1; 9]);
    }

    #[test]
    fn overlay_bits_above_high_bit_cleared() {
        let mut f = file(2, 3, 2, 16, "MONOCHROME2", false, VR::OW, vec![0xFF; 24]);
        f.dataset
            .put(Element::bytes(tags::BITS_STORED, VR::US, us(12, false)));
        f.dataset
            .put(Element::bytes(tags::HIGH_BIT, VR::US, us(11, false)));
        let layout = Layout::of(&f).unwrap();
        let mut edit = PixelEdit::new(&f, layout);
        edit.clear_bits(&[15]);
        edit.clear_bits(&[3]); // within the stored bits: ignored
        let out = chunked_same(&edit, &[0xFF; 24]);
        assert!(out.chunks_exact(2).all(|s| s == [0xFF, 0x7F]));
    }

    #[test]
    fn a_second_edit_applies_over_the_first() {
        let f = file(2, 2, 1, 8, "MONOCHROME2", false, VR::OB, vec![9; 4]);
        let layout = Layout::of(&f).unwrap();
        let mut a = PixelEdit::new(&f, layout.clone());
        a.blank_all(rect(0, 0, 1, 1));
        let mut b = PixelEdit::new(&f, layout);
        b.blank_all(rect(1, 1, 1, 1));
        b.prior = Some(std::sync::Arc::new(a));
        let mut v = vec![9; 4];
        b.apply(0, &mut v);
        assert_eq!(v, [0, 9, 9, 0]);
    }

    #[test]
    fn layouts_refused_with_what_is_wrong() {
        let short = file(4, 4, 2, 16, "MONOCHROME2", false, VR::OW, vec![0; 30]);
        let e = Layout::of(&short).unwrap_err();
        assert!(e.contains("30 bytes") && e.contains("needs 64"), "{e}");
        let odd = file(4, 4, 1, 12, "MONOCHROME2", false, VR::OW, vec![0; 32]);
        assert!(Layout::of(&odd).unwrap_err().contains("12 bits allocated"));
        let mut hsv = file(4, 4, 1, 8, "MONOCHROME2", false, VR::OB, vec![0; 16]);
        hsv.dataset.put(Element::text(
            tags::PHOTOMETRIC_INTERPRETATION,
            VR::CS,
            &["HSV"],
        ));
        assert!(Layout::of(&hsv).unwrap_err().contains("\"HSV\""));
    }
}
