//! RLE Lossless (PS3.5 Annex G): one frame at a time, to and from native bytes.
//!
//! dicom-rs has no RLE encoder, and its decoder takes 8- and 16-bit samples only; both are
//! small, so both are here. Native bytes are little endian with the samples of a pixel
//! together (Planar Configuration 0), as the registry's decoders give them.

/// The most segments an RLE header can list.
const MAX_SEGMENTS: usize = 15;

/// Decode one RLE frame of `rows` x `cols` pixels of `samples` samples of `bytes` bytes each.
pub fn decode_frame(
    data: &[u8],
    rows: u32,
    cols: u32,
    samples: usize,
    bytes: usize,
) -> Result<Vec<u8>, String> {
    let pixels = rows as usize * cols as usize;
    let segments = samples * bytes;
    if data.len() < 64 {
        return Err("has an RLE frame shorter than its 64-byte header".into());
    }
    let word = |i: usize| u32::from_le_bytes(data[4 * i..4 * i + 4].try_into().unwrap()) as usize;
    if word(0) != segments {
        return Err(format!(
            "has an RLE frame of {} segments where {samples} sample(s) of {} bits need {segments}",
            word(0),
            8 * bytes
        ));
    }
    let mut out = vec![0u8; pixels * segments];
    for seg in 0..segments {
        let start = word(1 + seg);
        let end = if seg + 1 < segments {
            word(2 + seg)
        } else {
            data.len()
        };
        if start < 64 || start > end || end > data.len() {
            return Err("has an RLE frame with invalid segment offsets".into());
        }
        let plane = unpack(&data[start..end], pixels)
            .ok_or("has an RLE segment that decodes to fewer bytes than the frame needs")?;
        // segments go most significant byte first, sample by sample
        let (sample, msb_rank) = (seg / bytes, seg % bytes);
        let at = sample * bytes + (bytes - 1 - msb_rank);
        for (i, &b) in plane.iter().enumerate() {
            out[i * segments + at] = b;
        }
    }
    Ok(out)
}

/// PackBits: the first `n` bytes a segment decodes to (`None` when it holds fewer).
fn unpack(seg: &[u8], n: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(n);
    let mut i = 0;
    while out.len() < n && i < seg.len() {
        let h = seg[i] as i8;
        i += 1;
        match h {
            0..=127 => {
                let len = h as usize + 1;
                let end = (i + len).min(seg.len());
                out.extend_from_slice(&seg[i..end]);
                i = end;
            }
            -127..=-1 => {
                let b = *seg.get(i)?;
                i += 1;
                out.resize(out.len() + (1 - h as isize) as usize, b);
            }
            -128 => {}
        }
    }
    (out.len() >= n).then(|| {
        out.truncate(n);
        out
    })
}

/// Encode one frame of native bytes (see [`decode_frame`]) as an RLE frame: one segment
/// per byte of each sample, each row packed on its own (G.3.1), segments of even length.
pub fn encode_frame(
    frame: &[u8],
    rows: u32,
    cols: u32,
    samples: usize,
    bytes: usize,
) -> Result<Vec<u8>, String> {
    let segments = samples * bytes;
    let (rows, cols) = (rows as usize, cols as usize);
    if segments > MAX_SEGMENTS || frame.len() != rows * cols * segments {
        return Err(format!(
            "cannot be encoded as RLE ({samples} sample(s) of {} bits)",
            8 * bytes
        ));
    }
    let mut out = vec![0u8; 64];
    out[..4].copy_from_slice(&(segments as u32).to_le_bytes());
    let mut row = vec![0u8; cols];
    for seg in 0..segments {
        let offset = out.len() as u32;
        out[4 + 4 * seg..8 + 4 * seg].copy_from_slice(&offset.to_le_bytes());
        let (sample, msb_rank) = (seg / bytes, seg % bytes);
        let at = sample * bytes + (bytes - 1 - msb_rank);
        for r in 0..rows {
            for (c, b) in row.iter_mut().enumerate() {
                *b = frame[(r * cols + c) * segments + at];
            }
            pack(&row, &mut out);
        }
        if out.len() % 2 == 1 {
            out.push(0);
        }
    }
    Ok(out)
}

/// PackBits one row: runs of 2 to 128 equal bytes replicated, the rest literal (at most 128
/// bytes a run).
fn pack(row: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < row.len() {
        let run = row[i..]
            .iter()
            .take(128)
            .take_while(|&&b| b == row[i])
            .count();
        if run >= 2 {
            out.push((257 - run) as u8);
            out.push(row[i]);
            i += run;
            continue;
        }
        // a literal up to the next run of two equal bytes
        let start = i;
        while i < row.len() && i - start < 128 && !(i + 1 < row.len() && row[i] == row[i + 1]) {
            i += 1;
        }
        out.push((i - start - 1) as u8);
        out.extend_from_slice(&row[start..i]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_width() {
        let mut rng = fastrand::Rng::with_seed(7);
        for (samples, bytes) in [(1, 1), (1, 2), (3, 1), (3, 2), (1, 4), (3, 4)] {
            for (rows, cols) in [(1, 1), (3, 5), (7, 300), (2, 129)] {
                let n = rows * cols * samples * bytes;
                // runs and noise mixed
                let frame: Vec<u8> = (0..n)
                    .map(|i| if (i / 50) % 2 == 0 { 9 } else { rng.u8(..) })
                    .collect();
                let enc = encode_frame(&frame, rows as u32, cols as u32, samples, bytes).unwrap();
                assert_eq!(enc.len() % 2, 0);
                let dec = decode_frame(&enc, rows as u32, cols as u32, samples, bytes).unwrap();
                assert_eq!(dec, frame, "{samples}x{bytes} {rows}x{cols}");
            }
        }
    }

    #[test]
    fn packbits_runs_and_literals() {
        let mut out = Vec::new();
        pack(&[1, 2, 3, 3, 3, 4], &mut out);
        assert_eq!(out, [1, 1, 2, 254, 3, 0, 4]);
        let mut out = Vec::new();
        pack(&[5; 130], &mut out);
        assert_eq!(out, [129, 5, 255, 5]);
        assert_eq!(unpack(&out, 130).unwrap(), vec![5; 130]);
    }

    #[test]
    fn truncated_frame_refused() {
        let enc = encode_frame(&[1, 2, 3, 4], 2, 2, 1, 1).unwrap();
        assert!(decode_frame(&enc[..66], 2, 2, 1, 1).is_err());
        assert!(decode_frame(&enc, 2, 2, 1, 2).is_err());
        assert!(decode_frame(&enc[..10], 2, 2, 1, 1).is_err());
    }
}
