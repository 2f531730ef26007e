//! Read: bytes in, a [`DicomFile`] tree out.
//!
//! Element headers are decoded by dicom-rs (`dicom_encoding::decode`), the VR of implicit files
//! comes from its standard dictionary, and transfer syntaxes from its registry. The walk over
//! the dataset is ours, not `dicom_parser`'s readers, because de-identification needs what those
//! do not give (see `shared/notes` and dicom-rs #169, #443, #521): values kept as raw bytes in
//! every character set, bulk values left in the file instead of loaded, undefined-length UN
//! elements read as the implicit-VR sequences they are (CP-246), every length checked against
//! the input before anything is allocated, and errors that carry the byte offset and tag path.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use dicom_core::header::DataElementHeader;
use dicom_core::{Tag, VR};
use dicom_dictionary_std::{tags, uids, StandardDataDictionary};
use dicom_encoding::decode::explicit_be::ExplicitVRBigEndianDecoder;
use dicom_encoding::decode::explicit_le::ExplicitVRLittleEndianDecoder;
use dicom_encoding::decode::implicit_le::ImplicitVRLittleEndianDecoder;
use dicom_encoding::decode::Decode;

use crate::dataset::{
    dictionary_vr, tag_str, Data, DataSet, DicomFile, Element, Source, TransferSyntax, Value, ITEM,
    ITEM_DELIMITATION, SEQUENCE_DELIMITATION,
};
use crate::error::{Error, Location, Result};

/// Values of bulk VRs at least this long are left in the source instead of read.
const BULK_THRESHOLD: u32 = 4096;
/// Deeper nesting than this is refused (no real file comes close; it guards the stack).
const MAX_DEPTH: usize = 64;
const UNDEFINED: u32 = 0xFFFF_FFFF;
/// Explicit VR Big Endian: retired (deprecated in the dictionary), and still read.
#[allow(deprecated)]
const EXPLICIT_VR_BIG_ENDIAN: &str = uids::EXPLICIT_VR_BIG_ENDIAN;

/// Files up to this size are read whole, in one system call, and parsed from memory: no
/// buffer to fill and no second read for their bulk values when they are written. Larger
/// files are parsed through a buffer and their bulk values stay in the file, which is kept
/// open (and read again, in chunks, when written).
const SMALL_FILE: u64 = 256 * 1024;

/// Read a DICOM file from a path.
pub fn read_path(path: &Path) -> Result<DicomFile> {
    let name = path.display().to_string();
    let io_err = |op: &'static str| {
        let name = name.clone();
        move |source: io::Error| Error::Io { name, op, source }
    };
    let not_a_file = |what: &str| Error::Io {
        name: name.clone(),
        op: "read",
        source: io::Error::other(what.to_string()),
    };
    let file = open_without_waiting(path).map_err(io_err("open"))?;
    let meta = file.metadata().map_err(io_err("stat"))?;
    if meta.is_dir() {
        return Err(not_a_file("it is a directory, not a file"));
    }
    if !meta.is_file() {
        return Err(not_a_file(
            "it is not a regular file (a device, FIFO or socket)",
        ));
    }
    // (a size of 0 may be a file of /proc, whose size is not known: read as a stream)
    if (1..=SMALL_FILE).contains(&meta.len()) {
        // its size as it was when opened (a file shorter by now fails as truncated)
        let mut data = vec![0; meta.len() as usize];
        (&file).read_exact(&mut data).map_err(io_err("read"))?;
        drop(file);
        return read_bytes(Arc::from(data), &name);
    }
    let file = Arc::new(file);
    let stream = Stream::Seekable(Box::new(&*file));
    let input = Input::new(stream, Some(meta.len()));
    parse(input, Source::File(file.clone()), &name)
}

/// Open for reading without blocking: opening a FIFO would otherwise wait for a writer, maybe
/// forever. The caller refuses anything that is not a regular file (where the flag has no
/// effect) before reading.
fn open_without_waiting(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    options.open(path)
}

/// Read a DICOM file held in memory. Bulk values are referenced, not copied.
pub fn read_bytes(data: Arc<[u8]>, name: &str) -> Result<DicomFile> {
    let cursor = io::Cursor::new(data.clone());
    let input = Input::new(Stream::Seekable(Box::new(cursor)), Some(data.len() as u64));
    parse(input, Source::Memory(data), name)
}

trait ReadSeek: Read + Seek {}
impl<T: Read + Seek> ReadSeek for T {}

enum Stream<'a> {
    /// Random access: bulk values are skipped and referenced.
    Seekable(Box<dyn ReadSeek + 'a>),
    /// Forward only (inflated data): bulk values are read.
    Forward(Box<dyn Read + 'a>),
}

/// A buffered reader that knows its position, can peek a few bytes and skip bulk values.
struct Input<'a> {
    stream: Stream<'a>,
    buf: Vec<u8>,
    lo: usize,
    hi: usize,
    /// Absolute position of `buf[lo]`.
    pos: u64,
    /// Total size, when known.
    size: Option<u64>,
}

const BUF_SIZE: usize = 64 * 1024;

impl<'a> Input<'a> {
    fn new(stream: Stream<'a>, size: Option<u64>) -> Self {
        // no bigger than the input (a small file's own size), and never smaller than what
        // is peeked at once (the preamble and prefix)
        let capacity = size.map_or(BUF_SIZE, |s| (s as usize).clamp(256, BUF_SIZE));
        Input {
            stream,
            buf: vec![0; capacity],
            lo: 0,
            hi: 0,
            pos: 0,
            size,
        }
    }

    fn inner(&mut self) -> &mut dyn Read {
        match &mut self.stream {
            Stream::Seekable(s) => s,
            Stream::Forward(s) => s,
        }
    }

    /// Make at least `n` bytes available (fewer at the end of the input); return them.
    fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
        if self.hi - self.lo < n {
            self.buf.copy_within(self.lo..self.hi, 0);
            self.hi -= self.lo;
            self.lo = 0;
            while self.hi < n {
                let tail = &mut self.buf[self.hi..];
                let read = match &mut self.stream {
                    Stream::Seekable(s) => s.read(tail),
                    Stream::Forward(s) => s.read(tail),
                };
                let got = match read {
                    Ok(0) => break,
                    Ok(k) => k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                self.hi += got;
            }
        }
        Ok(&self.buf[self.lo..self.hi.min(self.lo + n)])
    }

    /// What `peek(n)` returned last, without reading.
    fn buffered(&self, n: usize) -> &[u8] {
        &self.buf[self.lo..self.hi.min(self.lo + n)]
    }

    fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.hi - self.lo);
        self.lo += n;
        self.pos += n as u64;
    }

    fn at_end(&mut self) -> io::Result<bool> {
        Ok(self.peek(1)?.is_empty())
    }

    /// Bytes left, when the size is known.
    fn remaining(&self) -> Option<u64> {
        self.size.map(|s| s.saturating_sub(self.pos))
    }

    /// Read exactly `len` bytes into a new vector, growing it as data arrives.
    fn read_vec(&mut self, len: u64) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(len.min(BUF_SIZE as u64 * 16) as usize);
        let buffered = ((self.hi - self.lo) as u64).min(len) as usize;
        out.extend_from_slice(&self.buf[self.lo..self.lo + buffered]);
        self.consume(buffered);
        let rest = len - buffered as u64;
        if rest > 0 {
            let got = self.inner().take(rest).read_to_end(&mut out)? as u64;
            self.pos += got;
            if got < rest {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(out)
    }

    /// Skip `len` bytes.
    fn skip(&mut self, len: u64) -> io::Result<()> {
        let buffered = ((self.hi - self.lo) as u64).min(len) as usize;
        self.consume(buffered);
        let rest = len - buffered as u64;
        if rest == 0 {
            return Ok(());
        }
        match &mut self.stream {
            Stream::Seekable(s) => {
                s.seek(SeekFrom::Current(rest as i64))?;
                self.pos += rest;
            }
            Stream::Forward(s) => {
                let got = io::copy(&mut s.take(rest), &mut io::sink())?;
                self.pos += got;
                if got < rest {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
            }
        }
        Ok(())
    }

    fn can_reference(&self) -> bool {
        matches!(self.stream, Stream::Seekable(_))
    }
}

/// How a dataset (or a part of it) is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Encoding {
    explicit_vr: bool,
    big_endian: bool,
}

const IMPLICIT_LE: Encoding = Encoding {
    explicit_vr: false,
    big_endian: false,
};
const EXPLICIT_LE: Encoding = Encoding {
    explicit_vr: true,
    big_endian: false,
};

impl Encoding {
    fn of(ts: &TransferSyntax) -> Self {
        Encoding {
            explicit_vr: ts.explicit_vr,
            big_endian: ts.big_endian,
        }
    }

    fn u16(self, b: &[u8]) -> u16 {
        let a = [b[0], b[1]];
        if self.big_endian {
            u16::from_be_bytes(a)
        } else {
            u16::from_le_bytes(a)
        }
    }

    fn tag(self, b: &[u8]) -> Tag {
        Tag(self.u16(&b[0..2]), self.u16(&b[2..4]))
    }
}

/// Where a dataset ends.
#[derive(Debug, Clone, Copy)]
enum End {
    /// At the end of the input (the top level).
    Eof,
    /// At this absolute position (an item of defined length).
    At(u64),
    /// At an item delimitation item.
    Delimited,
}

struct Parser<'a> {
    input: Input<'a>,
    /// The file's own encoding: every value is stored in its byte order.
    file_encoding: Encoding,
    /// Tag path for messages, formatted only when one is made.
    path: Vec<Step>,
}

/// One step of a tag path: an element, and the item of its sequence being read, if any.
#[derive(Clone, Copy)]
struct Step {
    tag: Tag,
    item: Option<usize>,
}

impl Step {
    fn element(tag: Tag) -> Self {
        Step { tag, item: None }
    }
}

/// `(0008,1140)[0] > (0008,1155)`.
fn path_string(path: &[Step]) -> String {
    let mut out = String::new();
    for (i, step) in path.iter().enumerate() {
        if i > 0 {
            out.push_str(" > ");
        }
        out.push_str(&tag_str(step.tag));
        if let Some(index) = step.item {
            out.push_str(&format!("[{index}]"));
        }
    }
    out
}

/// Parse a whole file from the start of `input`.
fn parse(mut input: Input<'_>, source: Source, name: &str) -> Result<DicomFile> {
    let size = input.size.unwrap_or(0);
    let parser_err = |problem: String, offset: u64| Error::InvalidDicom {
        name: name.to_string(),
        problem,
        location: Location {
            offset,
            path: String::new(),
        },
    };
    let io_err = |e: io::Error| Error::Io {
        name: name.to_string(),
        op: "read",
        source: e,
    };
    let head = input.peek(132).map_err(io_err)?.to_vec();
    if head.is_empty() {
        return Err(Error::NotDicom {
            name: name.to_string(),
        });
    }
    let has_meta = if head.len() >= 132 && &head[128..132] == b"DICM" {
        input.consume(132);
        true
    } else if head.len() >= 4 && &head[0..4] == b"DICM" {
        input.consume(4);
        true
    } else {
        // a meta group with neither preamble nor prefix (some writers leave both out)
        head.len() >= 8 && head[0..2] == [0x02, 0x00]
    };

    let mut parser = Parser {
        input,
        file_encoding: EXPLICIT_LE,
        path: Vec::new(),
    };
    let mut meta = DataSet::new();
    let mut ts = if has_meta {
        let meta_encoding = parser.guess_encoding().map_err(|e| e.with_name(name))?;
        meta = parser
            .read_meta(meta_encoding)
            .map_err(|e| e.with_name(name))?;
        match meta.text(tags::TRANSFER_SYNTAX_UID) {
            Some(uid) if !uid.is_empty() => {
                let uid = String::from_utf8_lossy(uid).into_owned();
                TransferSyntax::from_uid(&uid).ok_or_else(|| Error::UnsupportedTransferSyntax {
                    name: name.to_string(),
                    uid: printable(&uid),
                })?
            }
            // no transfer syntax in the meta: take it from the dataset's first bytes, as other
            // readers do (explicit VR when a VR is there, implicit VR little endian otherwise)
            _ => match parser.guess_syntax().map_err(|e| e.with_name(name))? {
                Some(ts) => ts,
                None => {
                    let head = parser.peek(8).map_err(|e| e.with_name(name))?;
                    if head.len() < 8 {
                        return Err(parser_err(
                            "the meta group names no transfer syntax and no dataset follows".into(),
                            parser.input.pos,
                        ));
                    }
                    let uid = if is_vr_bytes(&head[4..6]) {
                        uids::EXPLICIT_VR_LITTLE_ENDIAN
                    } else {
                        uids::IMPLICIT_VR_LITTLE_ENDIAN
                    };
                    TransferSyntax::from_uid(uid).expect("registered")
                }
            },
        }
    } else {
        match parser.guess_syntax().map_err(|e| e.with_name(name))? {
            Some(ts) => ts,
            None => {
                return Err(Error::NotDicom {
                    name: name.to_string(),
                })
            }
        }
    };

    parser.file_encoding = Encoding::of(&ts);
    if ts.explicit_vr && !ts.big_endian && !ts.deflated {
        // some writers declare explicit VR and write implicit VR (dicom-rs #521): read what is
        // there; the output is written as declared
        let head = parser.peek(8).map_err(|e| e.with_name(name))?;
        if head.len() == 8 && !is_vr_bytes(&head[4..6]) {
            parser.file_encoding = IMPLICIT_LE;
        }
    } else if !ts.explicit_vr {
        // and the reverse: implicit VR declared, explicit VR written (a VR where an implicit
        // length's low bytes would be means a first element of 16 KiB or more: not plausible).
        // Read, and written, as the explicit VR little endian it is: its VRs are kept, and an
        // undefined-length OB that is not pixel data could not be written in implicit VR
        let head = parser.peek(8).map_err(|e| e.with_name(name))?;
        if head.len() == 8
            && is_vr_bytes(&head[4..6])
            && VR::from_binary([head[4], head[5]]).is_some()
        {
            parser.file_encoding = EXPLICIT_LE;
            ts = TransferSyntax::from_uid(uids::EXPLICIT_VR_LITTLE_ENDIAN).expect("registered");
        }
    }
    let dataset = if ts.deflated {
        let start = parser.input.pos;
        let limit = inflate_limit(size.saturating_sub(start));
        let rest: Box<dyn Read + '_> = match parser.input.stream {
            Stream::Seekable(mut s) => {
                s.seek(SeekFrom::Start(start)).map_err(io_err)?;
                Box::new(InflateLimit {
                    inner: flate2::read::DeflateDecoder::new(io::BufReader::new(s)),
                    left: limit,
                })
            }
            Stream::Forward(_) => unreachable!("files are read from a seekable stream"),
        };
        let mut inflated = Parser {
            input: Input::new(Stream::Forward(rest), None),
            file_encoding: parser.file_encoding,
            path: Vec::new(),
        };
        inflated
            .read_dataset(parser.file_encoding, End::Eof, 0)
            .map_err(|e| match e {
                Error::Io { source, .. } if source.kind() == io::ErrorKind::InvalidInput => {
                    parser_err(format!("the deflated dataset is corrupt: {source}"), start)
                }
                Error::Io { source, .. } if is_inflate_limit(&source) => parser_err(
                    format!(
                        "the deflated data set inflates to more than {limit} bytes (the larger \
                         of {} MiB and {INFLATE_RATIO} times its deflated size): refused as a \
                         likely decompression bomb",
                        INFLATE_FLOOR >> 20
                    ),
                    start,
                ),
                e => e,
            })
    } else {
        parser.read_dataset(parser.file_encoding, End::Eof, 0)
    }
    .map_err(|e| e.with_name(name));
    // a DICOMDIR that cannot be read is reported as what it is, not as a broken image
    let dataset = match dataset {
        Err(Error::InvalidDicom { problem, .. })
            if meta.text(tags::MEDIA_STORAGE_SOP_CLASS_UID) == Some(MEDIA_DIRECTORY) =>
        {
            return Err(Error::Unsupported {
                name: name.to_string(),
                what: format!("is a DICOMDIR (a media directory, not an instance), and a malformed one: {problem}"),
            })
        }
        other => other?,
    };

    Ok(DicomFile {
        meta,
        transfer_syntax: ts,
        dataset,
        source,
        name: name.to_string(),
        source_len: size,
    })
}

/// A deflated data set may inflate to this many times its size (or to [`INFLATE_FLOOR`],
/// whichever is more); beyond, it is refused. Inflated values are held in memory (the stream
/// cannot be read again), so without a bound a small file could take any amount of memory
/// (deflate reaches about 1000:1 on zeros). Real deflated data sets (reports, waveforms, the
/// odd image) come nowhere near.
const INFLATE_RATIO: u64 = 200;
const INFLATE_FLOOR: u64 = 64 << 20;

fn inflate_limit(deflated_len: u64) -> u64 {
    deflated_len
        .saturating_mul(INFLATE_RATIO)
        .max(INFLATE_FLOOR)
}

/// Reads at most `left` inflated bytes, then fails with [`InflateLimitExceeded`].
struct InflateLimit<R> {
    inner: R,
    left: u64,
}

#[derive(Debug)]
struct InflateLimitExceeded;

impl std::fmt::Display for InflateLimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the inflated data set is larger than allowed")
    }
}

impl std::error::Error for InflateLimitExceeded {}

fn is_inflate_limit(e: &io::Error) -> bool {
    e.get_ref()
        .is_some_and(|inner| inner.is::<InflateLimitExceeded>())
}

impl<R: Read> Read for InflateLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            // at the limit: fine if the stream ends here too
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::other(InflateLimitExceeded)),
            };
        }
        let n = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let got = self.inner.read(&mut buf[..n])?;
        self.left -= got as u64;
        Ok(got)
    }
}

fn printable(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(64)
        .collect()
}

fn is_vr_bytes(b: &[u8]) -> bool {
    b.len() >= 2 && b[0].is_ascii_uppercase() && b[1].is_ascii_uppercase()
}

impl Parser<'_> {
    fn invalid(&self, problem: impl Into<String>) -> Error {
        Error::InvalidDicom {
            name: String::new(),
            problem: problem.into(),
            location: Location {
                offset: self.input.pos,
                path: path_string(&self.path),
            },
        }
    }

    /// Peek `n` bytes (fewer at the end of the input).
    /// The error for an element whose tag the data set already has, read at `start`.
    fn duplicate(&self, tag: Tag, start: u64) -> Error {
        let mut path = path_string(&self.path);
        if !path.is_empty() {
            path.push_str(" > ");
        }
        path.push_str(&tag_str(tag));
        Error::InvalidDicom {
            name: String::new(),
            problem: format!("element {} occurs twice in the same data set", tag_str(tag)),
            location: Location {
                offset: start,
                path,
            },
        }
    }

    fn peek(&mut self, n: usize) -> Result<&[u8]> {
        if let Err(e) = self.input.peek(n) {
            return Err(self.io(e));
        }
        Ok(self.input.buffered(n))
    }

    fn io(&self, e: io::Error) -> Error {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            self.invalid("the file is truncated")
        } else {
            Error::Io {
                name: String::new(),
                op: "read",
                source: e,
            }
        }
    }

    /// Is the meta group encoded as it must be (explicit VR LE) or, as some old writers did, in
    /// implicit VR?
    fn guess_encoding(&mut self) -> Result<Encoding> {
        let head = self.peek(8)?;
        if head.len() < 8 {
            return Err(self.invalid("the file ends inside the meta information"));
        }
        Ok(if is_vr_bytes(&head[4..6]) {
            EXPLICIT_LE
        } else {
            IMPLICIT_LE
        })
    }

    /// Recognise the encoding of a dataset that has no meta group (or whose meta names no
    /// transfer syntax) from its first element; `None` if it does not look like DICOM.
    fn guess_syntax(&mut self) -> Result<Option<TransferSyntax>> {
        let head = self.peek(8)?.to_vec();
        if head.len() < 8 {
            return Ok(None);
        }
        let le = EXPLICIT_LE.tag(&head);
        let be = Tag(
            u16::from_be_bytes([head[0], head[1]]),
            u16::from_be_bytes([head[2], head[3]]),
        );
        // a dataset without meta starts with a low even group, (0008,xxxx) nearly always
        let plausible = |t: Tag| t.0 >= 0x0002 && t.0 <= 0x00FF && t.0 % 2 == 0;
        let explicit = is_vr_bytes(&head[4..6]) && VR::from_binary([head[4], head[5]]).is_some();
        let uid = if plausible(le) {
            if explicit {
                uids::EXPLICIT_VR_LITTLE_ENDIAN
            } else {
                let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as u64;
                match self.input.remaining() {
                    Some(rem) if len != UNDEFINED as u64 && len + 8 > rem => return Ok(None),
                    _ => uids::IMPLICIT_VR_LITTLE_ENDIAN,
                }
            }
        } else if plausible(be) && explicit {
            EXPLICIT_VR_BIG_ENDIAN
        } else {
            return Ok(None);
        };
        Ok(TransferSyntax::from_uid(uid))
    }

    /// Read the meta group; its errors say that they are in it.
    fn read_meta(&mut self, encoding: Encoding) -> Result<DataSet> {
        let meta = self.read_meta_elements(encoding).map_err(|e| match e {
            Error::InvalidDicom {
                name,
                problem,
                location,
            } => Error::InvalidDicom {
                name,
                problem: format!("in the meta information: {problem}"),
                location,
            },
            other => other,
        });
        self.path.clear();
        meta
    }

    fn read_meta_elements(&mut self, encoding: Encoding) -> Result<DataSet> {
        let mut meta = Collector::default();
        loop {
            let head = self.peek(4)?;
            if head.len() < 4 {
                break;
            }
            if encoding.tag(head).0 != 0x0002 {
                break;
            }
            let start = self.input.pos;
            let (header, _) = self.read_header(encoding)?;
            let len = header.len.0;
            if len == UNDEFINED {
                return Err(self.invalid(format!(
                    "undefined length in the meta group at {}",
                    tag_str(header.tag)
                )));
            }
            self.path.push(Step::element(header.tag));
            let bytes = self.read_inline(len)?;
            self.path.pop();
            meta.push(Element::bytes(header.tag, header.vr, bytes), start)
                .map_err(|tag| self.duplicate(tag, start))?;
        }
        if meta.elements.is_empty() {
            return Err(self.invalid("the DICM prefix is not followed by a meta group"));
        }
        Ok(meta.finish())
    }

    /// Decode an element or item header with dicom-rs's decoder for `encoding`.
    fn read_header(&mut self, encoding: Encoding) -> Result<(DataElementHeader, usize)> {
        let head = self.peek(12)?;
        if head.len() < 8 {
            return Err(self.invalid("the file ends inside an element header"));
        }
        if encoding.explicit_vr && encoding.tag(head).0 != 0xFFFE && !is_vr_bytes(&head[4..6]) {
            let tag = encoding.tag(head);
            return Err(self.invalid(format!(
                "element {} has no valid VR in an explicit VR dataset",
                tag_str(tag)
            )));
        }
        let mut src: &[u8] = head;
        let decoded = match (encoding.explicit_vr, encoding.big_endian) {
            (true, false) => ExplicitVRLittleEndianDecoder::default().decode_header(&mut src),
            (true, true) => ExplicitVRBigEndianDecoder::default().decode_header(&mut src),
            (false, _) => ImplicitVRLittleEndianDecoder::<StandardDataDictionary>::default()
                .decode_header(&mut src),
        };
        match decoded {
            Ok((header, n)) => {
                self.input.consume(n);
                Ok((header, n))
            }
            Err(_) => Err(self.invalid("the file ends inside an element header")),
        }
    }

    fn check_len(&self, len: u64) -> Result<()> {
        if let Some(rem) = self.input.remaining() {
            if len > rem {
                return Err(self.invalid(format!(
                    "a value of {len} bytes is announced but only {rem} bytes remain"
                )));
            }
        }
        Ok(())
    }

    fn read_inline(&mut self, len: u32) -> Result<Vec<u8>> {
        self.check_len(len as u64)?;
        self.input.read_vec(len as u64).map_err(|e| self.io(e))
    }

    /// A value's bytes: referenced in the source when large and bulk, otherwise read.
    fn read_data(&mut self, len: u32, bulk: bool, swap_vr: Option<VR>) -> Result<Data> {
        self.check_len(len as u64)?;
        if bulk && swap_vr.is_none() && len >= BULK_THRESHOLD && self.input.can_reference() {
            let offset = self.input.pos;
            self.input.skip(len as u64).map_err(|e| self.io(e))?;
            return Ok(Data::Source {
                offset,
                len: len as u64,
            });
        }
        let mut bytes = self.read_inline(len)?;
        if let Some(vr) = swap_vr {
            swap_bytes(vr, &mut bytes);
        }
        Ok(Data::Inline(bytes))
    }

    fn read_dataset(&mut self, encoding: Encoding, end: End, depth: usize) -> Result<DataSet> {
        if depth > MAX_DEPTH {
            return Err(self.invalid(format!("sequences nested deeper than {MAX_DEPTH} levels")));
        }
        let mut ds = Collector::default();
        loop {
            match end {
                End::At(limit) if self.input.pos >= limit => {
                    if self.input.pos > limit {
                        return Err(self.invalid("an element runs past the end of its item"));
                    }
                    break;
                }
                End::Eof if self.input.at_end().map_err(|e| self.io(e))? => break,
                _ => {}
            }
            let head = self.peek(4)?;
            if head.is_empty() {
                return Err(self.invalid("the file ends inside an item (no item delimiter)"));
            }
            if head.len() < 4 {
                return Err(self.invalid("the file ends inside an element header"));
            }
            let tag = encoding.tag(head);
            if tag == ITEM_DELIMITATION {
                self.peek(8)?;
                self.input.consume(8.min(self.input.hi - self.input.lo));
                if matches!(end, End::Delimited) {
                    break;
                }
                // a stray delimiter in a defined-length item: harmless, skip it
                continue;
            }
            if tag == SEQUENCE_DELIMITATION || tag == ITEM {
                return Err(
                    self.invalid(format!("unexpected {} outside of a sequence", tag_str(tag)))
                );
            }
            if tag.0 == 0xFFFE {
                // the group of items and delimiters holds no data elements (PS3.5 7.5); in
                // explicit VR such a header has no VR, so it could not even be written back
                return Err(self.invalid(format!(
                    "unexpected {} where a data element should be",
                    tag_str(tag)
                )));
            }
            let start = self.input.pos;
            let element = self.read_element(encoding, depth)?;
            ds.push(element, start)
                .map_err(|tag| self.duplicate(tag, start))?;
        }
        Ok(ds.finish())
    }

    fn read_element(&mut self, encoding: Encoding, depth: usize) -> Result<Element> {
        let (header, _) = self.read_header(encoding)?;
        let tag = header.tag;
        let len = header.len.0;
        let mut vr = header.vr;
        // values stored in the file's byte order: swap those read in another (UN contents)
        let swap = encoding.big_endian != self.file_encoding.big_endian;

        let known_sq = vr == VR::UN && dictionary_vr(tag) == Some(VR::SQ);
        let starts_with_item = |p: &mut Self| -> Result<bool> {
            if len < 8 || vr != VR::UN {
                return Ok(false);
            }
            let b = p.peek(4)?;
            Ok(b.len() == 4 && IMPLICIT_LE.tag(b) == ITEM)
        };
        let is_sequence = vr == VR::SQ
            || (len == UNDEFINED && vr == VR::UN)
            || (len == UNDEFINED && !encoding.explicit_vr && tag != tags::PIXEL_DATA)
            || known_sq;
        // in implicit VR, an element the dictionary does not know (a private one) whose value
        // starts with an item is most likely a sequence: read as one if it is one
        let maybe_sequence = !is_sequence && !encoding.explicit_vr && starts_with_item(self)?;

        self.path.push(Step::element(tag));
        let value = if is_sequence {
            let item_encoding = if vr == VR::UN {
                self.un_content_encoding(encoding)?
            } else if vr != VR::SQ && !encoding.explicit_vr {
                IMPLICIT_LE
            } else {
                encoding
            };
            vr = VR::SQ;
            Value::Sequence(self.read_items(item_encoding, len, depth)?)
        } else if maybe_sequence {
            let bytes = self.read_inline(len)?;
            match self.items_in(&bytes, depth) {
                Some(items) => {
                    vr = VR::SQ;
                    Value::Sequence(items)
                }
                None => Value::Primitive(Data::Inline(bytes)),
            }
        } else if len == UNDEFINED {
            if !matches!(vr, VR::OB | VR::OW) {
                return Err(self.invalid(format!(
                    "undefined length on an element of VR {}",
                    vr.to_string()
                )));
            }
            Value::Fragments(self.read_fragments(encoding)?)
        } else {
            let bulk = matches!(
                vr,
                VR::OB | VR::OW | VR::OF | VR::OD | VR::OL | VR::OV | VR::UN
            );
            Value::Primitive(self.read_data(len, bulk, swap.then_some(vr))?)
        };
        self.path.pop();
        Ok(Element::new(tag, vr, value))
    }

    /// The encoding of the items of a UN element read as a sequence. PS3.5 6.2.2 (CP-246):
    /// implicit VR little endian. Some converters kept the explicit VR of the original
    /// sequence instead; that is recognised by a VR after the first element's tag.
    fn un_content_encoding(&mut self, encoding: Encoding) -> Result<Encoding> {
        let head = self.peek(14)?;
        let looks_explicit = encoding.explicit_vr
            && head.len() == 14
            && IMPLICIT_LE.tag(head) == ITEM
            && IMPLICIT_LE.tag(&head[8..12]).0 != 0xFFFE
            && is_vr_bytes(&head[12..14])
            && VR::from_binary([head[12], head[13]]).is_some();
        Ok(if looks_explicit {
            Encoding {
                explicit_vr: true,
                big_endian: false,
            }
        } else {
            IMPLICIT_LE
        })
    }

    /// The items of a value already read, if the whole value is a well-formed sequence in
    /// implicit VR little endian; `None` otherwise (it is then kept as the bytes it is).
    fn items_in(&self, bytes: &[u8], depth: usize) -> Option<Vec<DataSet>> {
        let len = u32::try_from(bytes.len()).ok()?;
        let mut sub = Parser {
            input: Input::new(Stream::Forward(Box::new(bytes)), Some(bytes.len() as u64)),
            file_encoding: self.file_encoding,
            path: self.path.clone(),
        };
        sub.read_items(IMPLICIT_LE, len, depth).ok()
    }

    fn read_item_header(&mut self, encoding: Encoding) -> Result<(Tag, u32)> {
        let head = self.peek(8)?;
        if head.len() < 8 {
            return Err(self.invalid("the file ends inside a sequence"));
        }
        let tag = encoding.tag(head);
        let b = &head[4..8];
        let len = if encoding.big_endian {
            u32::from_be_bytes([b[0], b[1], b[2], b[3]])
        } else {
            u32::from_le_bytes([b[0], b[1], b[2], b[3]])
        };
        self.input.consume(8);
        Ok((tag, len))
    }

    fn read_items(&mut self, encoding: Encoding, len: u32, depth: usize) -> Result<Vec<DataSet>> {
        let end = if len == UNDEFINED {
            None
        } else {
            self.check_len(len as u64)?;
            Some(self.input.pos + len as u64)
        };
        let mut items = Vec::new();
        loop {
            if let Some(end) = end {
                if self.input.pos >= end {
                    if self.input.pos > end {
                        return Err(self.invalid("an item runs past the end of its sequence"));
                    }
                    break;
                }
            }
            let (tag, item_len) = self.read_item_header(encoding)?;
            match tag {
                SEQUENCE_DELIMITATION if end.is_none() => break,
                // tolerated: a delimiter closing a defined-length sequence
                SEQUENCE_DELIMITATION => break,
                ITEM => {}
                other => {
                    return Err(self.invalid(format!(
                        "expected an item in the sequence, found {}",
                        tag_str(other)
                    )))
                }
            }
            let index = items.len();
            if let Some(last) = self.path.last_mut() {
                last.item = Some(index);
            }
            let item_end = if item_len == UNDEFINED {
                End::Delimited
            } else {
                self.check_len(item_len as u64)?;
                End::At(self.input.pos + item_len as u64)
            };
            let item = self.read_dataset(encoding, item_end, depth + 1)?;
            if let Some(last) = self.path.last_mut() {
                last.item = None;
            }
            items.push(item);
        }
        Ok(items)
    }

    fn read_fragments(&mut self, encoding: Encoding) -> Result<Vec<Data>> {
        let mut fragments = Vec::new();
        loop {
            let (tag, len) = self.read_item_header(encoding)?;
            match tag {
                SEQUENCE_DELIMITATION => break,
                ITEM if len != UNDEFINED => {
                    fragments.push(self.read_data(len, true, None)?);
                }
                ITEM => {
                    return Err(self.invalid("a pixel data fragment has undefined length"));
                }
                other => {
                    return Err(self.invalid(format!(
                        "expected a pixel data fragment, found {}",
                        tag_str(other)
                    )))
                }
            }
        }
        Ok(fragments)
    }
}

/// The elements of one data set as they are read, with where each starts: put in tag order
/// at the end (one sort, only when the input was out of order). A tag read twice is refused
/// as soon as it is read: PS3.5 7.1 allows one per data set, and readers disagree on which one
/// counts (dcmtk keeps the first, pydicom the last), so keeping either could leave an
/// identifier another reader would show, or drop one that cleaning needs to know. Refusing at
/// once also stops a file followed by zeros (in implicit VR, one (0000,0000) element per 8
/// bytes) at its second element, not after collecting gigabytes of them.
#[derive(Default)]
struct Collector {
    elements: Vec<Element>,
    starts: Vec<u64>,
    /// The tags read so far, kept once an element came out of order (before that, a repeat
    /// can only be of the element just before).
    seen: Option<std::collections::HashSet<Tag>>,
}

impl Collector {
    /// Add an element read at `start`; `Err` with its tag when the data set already has it.
    fn push(&mut self, element: Element, start: u64) -> std::result::Result<(), Tag> {
        let tag = element.tag;
        match (&mut self.seen, self.elements.last()) {
            (Some(seen), _) => {
                if !seen.insert(tag) {
                    return Err(tag);
                }
            }
            (None, Some(last)) if last.tag == tag => return Err(tag),
            (None, Some(last)) if last.tag > tag => {
                let mut seen: std::collections::HashSet<Tag> =
                    self.elements.iter().map(|e| e.tag).collect();
                if !seen.insert(tag) {
                    return Err(tag);
                }
                self.seen = Some(seen);
            }
            (None, _) => {}
        }
        self.elements.push(element);
        self.starts.push(start);
        Ok(())
    }

    /// The data set, in tag order.
    fn finish(self) -> DataSet {
        let Collector {
            elements,
            starts,
            seen,
        } = self;
        if seen.is_none() {
            return DataSet { elements };
        }
        let mut order: Vec<usize> = (0..elements.len()).collect();
        order.sort_by_key(|&i| (elements[i].tag, starts[i]));
        let mut slots: Vec<Option<Element>> = elements.into_iter().map(Some).collect();
        let elements = order
            .into_iter()
            .map(|i| slots[i].take().expect("each index once"))
            .collect();
        DataSet { elements }
    }
}

/// Reverse the byte order of each binary number in a value of this VR.
pub(crate) fn swap_bytes(vr: VR, bytes: &mut [u8]) {
    let width = match vr {
        VR::US | VR::SS | VR::OW | VR::AT => 2,
        VR::UL | VR::SL | VR::FL | VR::OF | VR::OL => 4,
        VR::FD | VR::OD | VR::SV | VR::UV | VR::OV => 8,
        _ => return,
    };
    for chunk in bytes.chunks_exact_mut(width) {
        chunk.reverse();
    }
}

/// The SOP class of a DICOMDIR (Media Storage Directory Storage).
const MEDIA_DIRECTORY: &[u8] = uids::MEDIA_STORAGE_DIRECTORY_STORAGE.as_bytes();

/// Is this file a DICOMDIR?
pub fn is_dicomdir(file: &DicomFile) -> bool {
    file.meta.text(tags::MEDIA_STORAGE_SOP_CLASS_UID) == Some(MEDIA_DIRECTORY)
        || file.dataset.text(tags::SOP_CLASS_UID) == Some(MEDIA_DIRECTORY)
        || file.dataset.get(tags::DIRECTORY_RECORD_SEQUENCE).is_some()
}
