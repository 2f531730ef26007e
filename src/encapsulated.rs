//! Clean Pixel Data on encapsulated (compressed) pixel data.
//!
//! JPEG Baseline (1.2.840.10008.1.2.4.50) and Extended (.51, 8 or 12 bits) frames are redacted
//! block by block in the compressed stream ([`crate::jpegredact`]): only the MCUs that touch a
//! region are replaced by black blocks, every other block keeps its coefficients, so nothing
//! else changes once decoded and nothing is recompressed. Header segments that can carry text
//! or a thumbnail the redaction does not reach (every APPn but JFIF, SPIFF and Adobe's: Exif,
//! XMP, ICC, a JFXX thumbnail...; COM) are dropped. The frames are read one at a time; the redacted
//! frames are spooled as they are made (in memory up to 8 MiB, then in a temporary file) and
//! copied from there when the file is written: about one frame in memory.
//! RLE, JPEG Lossless and JPEG 2000 are decoded instead ([`crate::codecs`]); every other
//! encapsulated syntax is refused when a rule matches.

use std::collections::BTreeMap;

use dicom_core::VR;
use dicom_dictionary_std::tags;

use crate::dataset::{Data, DicomFile, Value};
use crate::jpegredact::{self, BlackLevel};
use crate::pixels::{Layout, Photometric, Rect, Span};

/// JPEG Baseline (Process 1).
pub const JPEG_BASELINE: &str = "1.2.840.10008.1.2.4.50";
/// JPEG Extended (Process 2 and 4): 8- and 12-bit streams.
pub const JPEG_EXTENDED: &str = "1.2.840.10008.1.2.4.51";

/// Whether frames of this transfer syntax can be cleaned.
pub fn supported(uid: &str) -> bool {
    uid == JPEG_BASELINE || uid == JPEG_EXTENDED
}

/// What to blank in a compressed file: rectangles of every frame, and of single frames.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub common: Vec<Rect>,
    pub frames: BTreeMap<u32, Vec<Rect>>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.common.is_empty() && self.frames.values().all(Vec::is_empty)
    }
}

/// Rectangles covering exactly these spans (rows of equal extent one above the other join).
pub fn rects_of(spans: &[Span]) -> Vec<Rect> {
    let mut done: Vec<Rect> = Vec::new();
    // the rectangles still growing, by their x extent
    let mut open: BTreeMap<(u32, u32), Rect> = BTreeMap::new();
    for s in spans {
        match open.get_mut(&(s.x0, s.x1)) {
            Some(r) if r.y + r.h == s.y => r.h += 1,
            _ => {
                let new = Rect {
                    x: s.x0,
                    y: s.y,
                    w: s.x1 - s.x0,
                    h: 1,
                };
                if let Some(old) = open.insert((s.x0, s.x1), new) {
                    done.push(old);
                }
            }
        }
    }
    done.extend(open.into_values());
    done
}

/// The black of the file's photometric interpretation, for a stream of these components.
fn black_level(layout: &Layout, info: &jpegredact::FrameInfo) -> BlackLevel {
    match layout.photometric {
        Photometric::Monochrome1 => BlackLevel::Max,
        // RGB in DICOM means no color transform, unless the stream says JFIF (YCbCr)
        Photometric::Rgb if !info.jfif => BlackLevel::Rgb0,
        _ if info.stored_as_rgb() => BlackLevel::Rgb0,
        _ => BlackLevel::Luma0,
    }
}

/// The fragments (indices into the fragment list, the offset table at 0 excluded) of each
/// frame: by the Basic Offset Table, else one fragment per frame, else by the end of image
/// marker closing a frame's last fragment.
pub(crate) fn frame_fragments(
    file: &DicomFile,
    fragments: &[Data],
    frames: u32,
) -> Result<Vec<std::ops::Range<usize>>, String> {
    let n = fragments.len().saturating_sub(1);
    if n == 0 {
        return Err("has no fragment of pixel data".into());
    }
    if frames == 1 {
        return Ok(std::iter::once(1..n + 1).collect());
    }
    let table = fragments[0]
        .bytes(&file.source)
        .map_err(|e| format!("cannot be read: {e}"))?;
    if !table.is_empty() {
        // offsets of each frame's first fragment from the first fragment's item tag
        let offsets: Vec<u64> = table
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as u64)
            .collect();
        let mut starts = Vec::with_capacity(n);
        let mut at = 0u64;
        for f in &fragments[1..] {
            starts.push(at);
            at += 8 + f.len() + f.len() % 2;
        }
        let index: Option<Vec<usize>> = offsets
            .iter()
            .map(|o| starts.iter().position(|s| s == o).map(|i| i + 1))
            .collect();
        match index {
            Some(index)
                if index.len() == frames as usize && index.windows(2).all(|w| w[0] < w[1]) =>
            {
                let mut out = Vec::new();
                for (i, &start) in index.iter().enumerate() {
                    let end = index.get(i + 1).copied().unwrap_or(n + 1);
                    out.push(start..end);
                }
                return Ok(out);
            }
            _ => {
                return Err(
                    "has a Basic Offset Table that does not match its fragments and frames".into(),
                )
            }
        }
    }
    if n == frames as usize {
        return Ok((1..n + 1).map(|i| i..i + 1).collect());
    }
    // a frame ends with the fragment that ends with EOI (FFD9, maybe one padding byte after):
    // only the last bytes of each fragment are read (the caller reads the frames)
    let mut out = Vec::new();
    let mut start = 1;
    for (i, f) in fragments.iter().enumerate().skip(1) {
        let bytes = f
            .read_part(&file.source, f.len().saturating_sub(3), 3)
            .map_err(|e| format!("cannot be read: {e}"))?;
        let t = bytes.strip_suffix(&[0]).unwrap_or(&bytes);
        if t.ends_with(&[0xFF, 0xD9]) {
            out.push(start..i + 1);
            start = i + 1;
        }
    }
    if out.len() != frames as usize || start != n + 1 {
        return Err(format!(
            "has {n} fragments that could not be split into its {frames} frames (no Basic \
             Offset Table)"
        ));
    }
    Ok(out)
}

/// Whether a header segment (its marker, and its body or the start of it) may hold text or a
/// thumbnail: every APPn but a JFIF APP0, the APP8 of a SPIFF header (JPEG-LS) and its
/// directory (`spiff`: the stream has one), and Adobe's APP14; and COM.
fn droppable(marker: u8, body: &[u8], spiff: bool) -> bool {
    match marker {
        0xE0 => !body.starts_with(b"JFIF\0"),
        0xE8 => !(spiff || body.starts_with(b"SPIFF\0")),
        0xEE => !body.starts_with(b"Adobe"),
        0xE1..=0xEF | 0xFE => true,
        _ => false,
    }
}

/// Drop the header segments before the first scan that can hold text or a thumbnail the
/// block redaction does not reach ([`droppable`]). Returns the stream and how many segments were dropped.
fn drop_text_segments(jpeg: &[u8]) -> Result<(Vec<u8>, usize), String> {
    if jpeg.len() < 4 || jpeg[0] != 0xFF || jpeg[1] != 0xD8 {
        return Err("holds a frame that is not a JPEG stream (no SOI marker)".into());
    }
    let mut out = Vec::with_capacity(jpeg.len());
    out.extend_from_slice(&jpeg[..2]);
    let mut at = 2;
    let mut dropped = 0;
    let mut spiff = false;
    loop {
        // fill bytes before a marker
        while at + 1 < jpeg.len() && jpeg[at] == 0xFF && jpeg[at + 1] == 0xFF {
            at += 1;
        }
        if at + 4 > jpeg.len() || jpeg[at] != 0xFF {
            return Err("holds a truncated or malformed JPEG header".into());
        }
        let marker = jpeg[at + 1];
        if marker == 0xDA || !(0xC0..=0xFE).contains(&marker) || marker == 0xD8 {
            // the first scan (or something the redaction will judge): the rest as it is
            out.extend_from_slice(&jpeg[at..]);
            return Ok((out, dropped));
        }
        let len = u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]) as usize;
        let end = at + 2 + len;
        if len < 2 || end > jpeg.len() {
            return Err("holds a truncated or malformed JPEG header".into());
        }
        let body = &jpeg[at + 4..end];
        spiff |= marker == 0xE8 && body.starts_with(b"SPIFF\0");
        if droppable(marker, body, spiff) {
            dropped += 1;
        } else {
            out.extend_from_slice(&jpeg[at..end]);
        }
        at = end;
    }
}

/// The Basic Offset Table of one fragment per frame, of these lengths (empty past 4 GB).
pub(crate) fn offset_table(lengths: &[u64]) -> Vec<u8> {
    let mut table = Vec::with_capacity(4 * lengths.len());
    let mut at = 0u64;
    for &len in lengths {
        table.extend_from_slice(&(at as u32).to_le_bytes());
        at += 8 + len + len % 2;
    }
    if at > u32::MAX as u64 {
        table.clear();
    }
    table
}

/// What was done to a compressed file.
pub struct Done {
    pub frames: usize,
    pub mcus_replaced: usize,
    pub mcus_total: usize,
    pub segments_dropped: usize,
}

/// Redact the frames of `file` (its Pixel Data must be encapsulated in a [`supported`]
/// syntax): each frame becomes one fragment, with a Basic Offset Table (an Extended Offset
/// Table is removed).
pub fn redact(file: &mut DicomFile, layout: &Layout, plan: &Plan) -> Result<Done, String> {
    let Some(el) = file.dataset.get(tags::PIXEL_DATA) else {
        return Err("has no pixel data".into());
    };
    let Value::Fragments(fragments) = &el.value else {
        return Err("has native pixel data in a compressed transfer syntax".into());
    };
    let groups = frame_fragments(file, fragments, layout.frames)?;
    // the redacted frames are spooled as they are made (memory: about one frame)
    let mut spool = crate::dataset::Spool::new();
    let spooled = |e: std::io::Error| format!("cannot be spooled: {e}");
    let mut places: Vec<(u64, u64)> = Vec::with_capacity(groups.len());
    let mut done = Done {
        frames: groups.len(),
        mcus_replaced: 0,
        mcus_total: 0,
        segments_dropped: 0,
    };
    for (i, range) in groups.into_iter().enumerate() {
        let mut stream = Vec::new();
        for f in &fragments[range] {
            let bytes = f
                .bytes(&file.source)
                .map_err(|e| format!("cannot be read: {e}"))?;
            stream.extend_from_slice(&bytes);
        }
        let (stream, dropped) = drop_text_segments(&stream)?;
        done.segments_dropped += dropped;
        let info = jpegredact::frame_info(&stream)
            .map_err(|e| format!("has a frame ({i}) that cannot be redacted: {e}"))?;
        if info.width != layout.cols || info.height != layout.rows {
            return Err(format!(
                "has a frame ({i}) of {}x{} where the header says {}x{}",
                info.width, info.height, layout.cols, layout.rows
            ));
        }
        let mut regions = plan.common.clone();
        if let Some(extra) = plan.frames.get(&(i as u32)) {
            regions.extend_from_slice(extra);
        }
        let black = black_level(layout, &info);
        let out = jpegredact::redact_frame(&stream, &regions, black)
            .map_err(|e| format!("has a frame ({i}) that cannot be redacted: {e}"))?;
        done.mcus_replaced += out.mcus_replaced;
        done.mcus_total += out.mcus_total;
        let at = spool.append(&out.data).map_err(spooled)?;
        places.push((at, out.data.len() as u64));
    }
    let from = spool.finish().map_err(spooled)?;
    let lengths: Vec<u64> = places.iter().map(|p| p.1).collect();
    let mut new = vec![Data::Inline(offset_table(&lengths))];
    new.extend(places.into_iter().map(|(offset, len)| Data::Spooled {
        from: from.clone(),
        offset,
        len,
    }));
    let ds = &mut file.dataset;
    ds.remove(tags::EXTENDED_OFFSET_TABLE);
    ds.remove(tags::EXTENDED_OFFSET_TABLE_LENGTHS);
    if let Some(el) = ds.get_mut(tags::PIXEL_DATA) {
        el.value = Value::Fragments(new);
        el.vr = VR::OB;
    }
    Ok(done)
}

/// The encapsulated syntaxes whose frames are JPEG or JPEG-LS streams (the marker syntax of
/// ISO 10918 and 14495, whose APPn and COM segments can carry text).
pub fn jpeg_family(uid: &str) -> bool {
    matches!(
        uid,
        "1.2.840.10008.1.2.4.50"
            | "1.2.840.10008.1.2.4.51"
            | "1.2.840.10008.1.2.4.57"
            | "1.2.840.10008.1.2.4.70"
            | "1.2.840.10008.1.2.4.80"
            | "1.2.840.10008.1.2.4.81"
    )
}

/// How many bytes of a frame's first fragment are read to look for header segments before
/// reading it whole.
const HEADER_PEEK: u64 = 64 * 1024;

/// Whether a stream's header (before the first scan or frame marker) holds a segment
/// [`drop_text_segments`] drops; `None` when `head` ends before the header does.
fn has_text_segments(head: &[u8]) -> Option<bool> {
    if head.len() < 2 || head[0] != 0xFF || head[1] != 0xD8 {
        return Some(false);
    }
    let mut at = 2;
    let mut spiff = false;
    loop {
        while at + 1 < head.len() && head[at] == 0xFF && head[at + 1] == 0xFF {
            at += 1;
        }
        if at + 4 > head.len() {
            return None;
        }
        if head[at] != 0xFF {
            return Some(false);
        }
        let marker = head[at + 1];
        if marker == 0xDA || !(0xC0..=0xFE).contains(&marker) || marker == 0xD8 {
            return Some(false);
        }
        let len = u16::from_be_bytes([head[at + 2], head[at + 3]]) as usize;
        if (0xE0..=0xEF).contains(&marker) && at + 10 > head.len() {
            return None; // its identifier is not all there
        }
        let body = &head[(at + 4).min(head.len())..];
        spiff |= marker == 0xE8 && body.starts_with(b"SPIFF\0");
        if droppable(marker, body, spiff) {
            return Some(true);
        }
        at += 2 + len.max(2);
    }
}

/// Drop the header segments that may hold text ([`droppable`])
/// from every frame of a JPEG or JPEG-LS file, whatever the pixel rules: Exif, XMP and comments
/// can name the patient. Only the first fragment of a frame that has such segments is read
/// whole and rewritten (spooled, [`crate::dataset::Spool`]); the offset table follows.
/// Returns how many segments were dropped.
pub fn drop_header_text(file: &mut DicomFile, frames: u32) -> Result<usize, String> {
    let Some(Value::Fragments(fragments)) = file.dataset.get(tags::PIXEL_DATA).map(|e| &e.value)
    else {
        return Ok(0);
    };
    // the frames as the offset table or the fragments say; else every fragment that starts a
    // JPEG stream (SOI) is looked at
    let groups = match frame_fragments(file, fragments, frames.max(1)) {
        Ok(groups) => groups,
        Err(_) => {
            let mut starts = Vec::new();
            for (i, f) in fragments.iter().enumerate().skip(1) {
                let head = f.read_part(&file.source, 0, 2).ok();
                if head.as_deref() == Some(&[0xFF, 0xD8]) {
                    starts.push(i..i + 1);
                }
            }
            starts
        }
    };
    // the rewritten first fragments are spooled as they are made (memory: about one frame)
    let mut spool = crate::dataset::Spool::new();
    let spooled = |e: std::io::Error| format!("cannot be spooled: {e}");
    let mut changed: Vec<(usize, u64, u64)> = Vec::new();
    let mut dropped = 0;
    for range in &groups {
        let first = &fragments[range.start];
        let peek = |n: u64| -> Result<Vec<u8>, String> {
            first
                .read_part(&file.source, 0, n)
                .map_err(|e| format!("cannot be read: {e}"))
        };
        let head = peek(HEADER_PEEK)?;
        let whole = match has_text_segments(&head) {
            Some(false) => continue,
            Some(true) => peek(first.len())?,
            None if (head.len() as u64) < first.len() => {
                let whole = peek(first.len())?;
                if has_text_segments(&whole) != Some(true) {
                    continue;
                }
                whole
            }
            None => continue,
        };
        let (out, n) = drop_text_segments(&whole)?;
        if n > 0 {
            dropped += n;
            let at = spool.append(&out).map_err(spooled)?;
            changed.push((range.start, at, out.len() as u64));
        }
    }
    if changed.is_empty() {
        return Ok(0);
    }
    let had_table =
        !fragments[0].is_empty() || file.dataset.get(tags::EXTENDED_OFFSET_TABLE).is_some();
    let from = spool.finish().map_err(spooled)?;
    let mut new: Vec<Data> = fragments.clone();
    for (i, offset, len) in changed {
        new[i] = Data::Spooled {
            from: from.clone(),
            offset,
            len,
        };
    }
    if had_table {
        let mut starts = Vec::with_capacity(new.len());
        let mut at = 0u64;
        for f in &new[1..] {
            starts.push(at);
            at += 8 + f.len() + f.len() % 2;
        }
        let mut table = Vec::new();
        if at <= u32::MAX as u64 {
            for range in &groups {
                table.extend_from_slice(&(starts[range.start - 1] as u32).to_le_bytes());
            }
        }
        new[0] = Data::Inline(table);
    }
    let ds = &mut file.dataset;
    ds.remove(tags::EXTENDED_OFFSET_TABLE);
    ds.remove(tags::EXTENDED_OFFSET_TABLE_LENGTHS);
    if let Some(el) = ds.get_mut(tags::PIXEL_DATA) {
        el.value = Value::Fragments(new);
    }
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rects_join_rows_of_equal_extent() {
        let spans = [
            Span { y: 0, x0: 0, x1: 4 },
            Span { y: 1, x0: 0, x1: 4 },
            Span { y: 1, x0: 6, x1: 8 },
            Span { y: 2, x0: 6, x1: 8 },
            Span { y: 4, x0: 0, x1: 4 },
        ];
        let mut r = rects_of(&spans);
        r.sort_by_key(|r| (r.y, r.x));
        assert_eq!(
            r,
            [
                Rect {
                    x: 0,
                    y: 0,
                    w: 4,
                    h: 2
                },
                Rect {
                    x: 6,
                    y: 1,
                    w: 2,
                    h: 2
                },
                Rect {
                    x: 0,
                    y: 4,
                    w: 4,
                    h: 1
                },
            ]
        );
    }

    #[test]
    fn text_segments_dropped_jfif_and_adobe_kept() {
        let seg = |m: u8, body: &[u8]| {
            let mut v = vec![0xFF, m];
            v.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
            v.extend_from_slice(body);
            v
        };
        let mut jpeg = vec![0xFF, 0xD8];
        jpeg.extend(seg(0xE0, b"JFIF\0rest"));
        jpeg.extend(seg(0xE0, b"JFXX\0thumb"));
        jpeg.extend(seg(0xE1, b"Exif\0\0name"));
        jpeg.extend(seg(0xFE, b"Patient DOE"));
        jpeg.extend(seg(0xEE, b"Adobe-x"));
        jpeg.extend(seg(0xDB, &[0; 65]));
        jpeg.extend([0xFF, 0xDA, 0, 2, 1, 2, 3]);
        let (out, dropped) = drop_text_segments(&jpeg).unwrap();
        assert_eq!(dropped, 3);
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("JFIF") && text.contains("Adobe"));
        assert!(!text.contains("DOE") && !text.contains("Exif") && !text.contains("JFXX"));
        assert!(out.ends_with(&[0xFF, 0xDA, 0, 2, 1, 2, 3]));
    }
}
