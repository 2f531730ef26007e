//! The in-memory model of a DICOM file: a tree of elements whose values are raw bytes.
//!
//! Values are never decoded: text stays in the file's character set, numbers in the file's byte
//! order. Bulk values (pixel data, fragments, large OB/OW/UN values) are not loaded at all when
//! the input can be read again at random: they stay [`Data::Source`] ranges of the [`Source`] and
//! are copied from there when the file is written.

use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::sync::Arc;

use dicom_core::{Tag, VR};
use dicom_dictionary_std::uids;

/// Where bulk values live until they are written.
#[derive(Clone, Default)]
pub enum Source {
    /// Nothing: every value is inline.
    #[default]
    None,
    /// The whole input, in memory.
    Memory(Arc<[u8]>),
    /// An open file, read with positioned reads (no shared cursor, safe across threads).
    File(Arc<File>),
}

/// Two sources are equal when they are the same one (bulk values are not compared).
impl PartialEq for Source {
    fn eq(&self, other: &Source) -> bool {
        match (self, other) {
            (Source::None, Source::None) => true,
            (Source::Memory(a), Source::Memory(b)) => Arc::ptr_eq(a, b),
            (Source::File(a), Source::File(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for Source {}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::None => f.write_str("Source::None"),
            Source::Memory(m) => write!(f, "Source::Memory({} bytes)", m.len()),
            Source::File(_) => f.write_str("Source::File"),
        }
    }
}

const COPY_CHUNK: usize = 1 << 20;

impl Source {
    /// Copy bytes `[start, start + len)` of the value at `offset` to `out` through a pixel
    /// edit, in chunks (never the whole value at once; where the edit clears bits of every
    /// sample, `start` is 0 and the chunks are multiples of 8 bytes, so samples are whole).
    pub fn copy_edited(
        &self,
        offset: u64,
        start: u64,
        len: u64,
        edit: &crate::pixels::PixelEdit,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        let mut buf = vec![0u8; COPY_CHUNK.min(len as usize)];
        let mut done = 0u64;
        while done < len {
            let n = ((len - done) as usize).min(buf.len());
            let at = offset + start + done;
            match self {
                Source::None => return Err(io::Error::other("bulk value without a source")),
                Source::Memory(m) => {
                    let range = slice_range(m.len(), at, n as u64)?;
                    buf[..n].copy_from_slice(&m[range]);
                }
                Source::File(f) => read_exact_at(f, &mut buf[..n], at)?,
            }
            edit.apply(start + done, &mut buf[..n]);
            out.write_all(&buf[..n])?;
            done += n as u64;
        }
        Ok(())
    }

    /// Copy `len` bytes at `offset` to `out`, in chunks (never the whole value at once).
    pub fn copy_to(&self, offset: u64, len: u64, out: &mut dyn Write) -> io::Result<()> {
        match self {
            Source::None => Err(io::Error::other("bulk value without a source")),
            Source::Memory(m) => {
                let range = slice_range(m.len(), offset, len)?;
                out.write_all(&m[range])
            }
            Source::File(f) => {
                let mut buf = vec![0u8; COPY_CHUNK.min(len as usize)];
                let mut done = 0u64;
                while done < len {
                    let n = ((len - done) as usize).min(buf.len());
                    read_exact_at(f, &mut buf[..n], offset + done)?;
                    out.write_all(&buf[..n])?;
                    done += n as u64;
                }
                Ok(())
            }
        }
    }

    /// Read `len` bytes at `offset` into memory.
    pub fn read(&self, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        let mut v = Vec::with_capacity(len.min(1 << 24) as usize);
        self.copy_to(offset, len, &mut v)?;
        Ok(v)
    }
}

/// Values made while a file is cleaned (the frames encoded again), gathered until the file is
/// written: in memory up to [`SPOOL_MEMORY`] bytes, then in an unlinked temporary file (in
/// the system's temporary folder, `TMPDIR`), so that a file of any number of frames holds
/// about one frame in memory. [`Spool::finish`] makes it a [`Source`] the values are read
/// from ([`Data::Spooled`]).
#[derive(Debug, Default)]
pub struct Spool {
    memory: Vec<u8>,
    file: Option<(File, u64)>,
}

/// The most bytes a [`Spool`] keeps in memory.
pub const SPOOL_MEMORY: usize = 8 << 20;

impl Spool {
    pub fn new() -> Spool {
        Spool::default()
    }

    /// Append `bytes`; returns their offset.
    pub fn append(&mut self, bytes: &[u8]) -> io::Result<u64> {
        if let Some((file, len)) = &mut self.file {
            let at = *len;
            file.write_all(bytes)?;
            *len += bytes.len() as u64;
            return Ok(at);
        }
        let at = self.memory.len() as u64;
        if self.memory.len() + bytes.len() <= SPOOL_MEMORY {
            self.memory.extend_from_slice(bytes);
            return Ok(at);
        }
        let mut file = tempfile::tempfile()?;
        file.write_all(&self.memory)?;
        file.write_all(bytes)?;
        self.memory = Vec::new();
        self.file = Some((file, at + bytes.len() as u64));
        Ok(at)
    }

    /// The spooled bytes, to be read from.
    pub fn finish(self) -> io::Result<Source> {
        match self.file {
            Some((mut file, _)) => {
                file.flush()?;
                Ok(Source::File(Arc::new(file)))
            }
            None => Ok(Source::Memory(Arc::from(self.memory))),
        }
    }
}

fn slice_range(size: usize, offset: u64, len: u64) -> io::Result<std::ops::Range<usize>> {
    let end = offset.checked_add(len).filter(|&e| e <= size as u64);
    match end {
        Some(end) => Ok(offset as usize..end as usize),
        None => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "value lies past the end of the input",
        )),
    }
}

#[cfg(unix)]
fn read_exact_at(f: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    f.read_exact_at(buf, offset)
}

#[cfg(windows)]
fn read_exact_at(f: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match f.seek_read(buf, offset) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The bytes of a value or fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    /// Held in memory.
    Inline(Vec<u8>),
    /// Left in the [`Source`] at this offset.
    Source { offset: u64, len: u64 },
    /// Left in the [`Source`] at this offset, and rewritten by a pixel edit (Clean Pixel
    /// Data) as it is read or written, chunk by chunk.
    Edited {
        offset: u64,
        len: u64,
        edit: Arc<crate::pixels::PixelEdit>,
    },
    /// Made while the file was cleaned and spooled ([`Spool`]): at this offset of `from`.
    Spooled { from: Source, offset: u64, len: u64 },
    /// Native pixel data decoded from the source's compressed frames when it is written (or
    /// read), one frame at a time: never held whole.
    Frames(Arc<crate::codecs::Frames>),
}

impl Data {
    /// The number of bytes.
    pub fn len(&self) -> u64 {
        match self {
            Data::Inline(v) => v.len() as u64,
            Data::Source { len, .. } | Data::Edited { len, .. } | Data::Spooled { len, .. } => *len,
            Data::Frames(f) => f.native_len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes `[start, start + len)` of the value (fewer where it ends before), reading them
    /// from `source` when they are not held.
    pub fn read_part(&self, source: &Source, start: u64, len: u64) -> io::Result<Vec<u8>> {
        let len = len.min(self.len().saturating_sub(start));
        match self {
            Data::Inline(v) => Ok(v[start as usize..(start + len) as usize].to_vec()),
            Data::Source { offset, .. } => source.read(offset + start, len),
            Data::Edited { offset, edit, .. } => {
                let mut v = source.read(offset + start, len)?;
                edit.apply(start, &mut v);
                Ok(v)
            }
            Data::Spooled { from, offset, .. } => from.read(offset + start, len),
            Data::Frames(f) => f.read_part(start, len),
        }
    }

    /// The bytes, reading them from `source` when they are not held.
    pub fn bytes<'a>(&'a self, source: &Source) -> io::Result<std::borrow::Cow<'a, [u8]>> {
        match self {
            Data::Inline(v) => Ok(std::borrow::Cow::Borrowed(v)),
            Data::Source { offset, len } => source.read(*offset, *len).map(Into::into),
            Data::Edited { offset, len, edit } => {
                let mut v = source.read(*offset, *len)?;
                edit.apply(0, &mut v);
                Ok(v.into())
            }
            Data::Spooled { from, offset, len } => from.read(*offset, *len).map(Into::into),
            Data::Frames(f) => {
                let mut v = Vec::with_capacity(f.native_len().min(1 << 24) as usize);
                f.write_native(&mut v)?;
                Ok(v.into())
            }
        }
    }
}

/// The value of an element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A primitive value: raw bytes as encoded, without decoding.
    Primitive(Data),
    /// A sequence of items.
    Sequence(Vec<DataSet>),
    /// Encapsulated pixel data: the basic offset table, then the fragments.
    Fragments(Vec<Data>),
}

/// One data element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub tag: Tag,
    pub vr: VR,
    pub value: Value,
}

impl Element {
    pub fn new(tag: Tag, vr: VR, value: Value) -> Self {
        Element { tag, vr, value }
    }

    /// A primitive element with inline bytes.
    pub fn bytes(tag: Tag, vr: VR, bytes: Vec<u8>) -> Self {
        Element::new(tag, vr, Value::Primitive(Data::Inline(bytes)))
    }

    /// A text element (values joined by backslash).
    pub fn text(tag: Tag, vr: VR, values: &[&str]) -> Self {
        Element::bytes(tag, vr, values.join("\\").into_bytes())
    }

    /// The inline bytes of a primitive value, if it is one and held in memory.
    pub fn inline_bytes(&self) -> Option<&[u8]> {
        match &self.value {
            Value::Primitive(Data::Inline(v)) => Some(v),
            _ => None,
        }
    }
}

/// A dataset (the top level, or one item of a sequence): elements in ascending tag order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataSet {
    pub elements: Vec<Element>,
}

impl DataSet {
    pub fn new() -> Self {
        DataSet::default()
    }

    fn position(&self, tag: Tag) -> Result<usize, usize> {
        self.elements.binary_search_by(|e| e.tag.cmp(&tag))
    }

    pub fn get(&self, tag: Tag) -> Option<&Element> {
        self.position(tag).ok().map(|i| &self.elements[i])
    }

    pub fn get_mut(&mut self, tag: Tag) -> Option<&mut Element> {
        self.position(tag).ok().map(|i| &mut self.elements[i])
    }

    /// Insert an element, replacing one with the same tag.
    pub fn put(&mut self, element: Element) {
        match self.position(element.tag) {
            Ok(i) => self.elements[i] = element,
            Err(i) => self.elements.insert(i, element),
        }
    }

    /// Remove the element with this tag; true if there was one.
    pub fn remove(&mut self, tag: Tag) -> bool {
        match self.position(tag) {
            Ok(i) => {
                self.elements.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    /// The value of an inline text element, with its padding (trailing spaces and NULs) removed.
    pub fn text(&self, tag: Tag) -> Option<&[u8]> {
        self.get(tag)?.inline_bytes().map(trim_padding)
    }
}

/// Strip the trailing padding (space or NUL) and leading spaces of a text value.
pub fn trim_padding(v: &[u8]) -> &[u8] {
    let end = v
        .iter()
        .rposition(|&b| b != b' ' && b != 0)
        .map_or(0, |i| i + 1);
    let start = v[..end].iter().position(|&b| b != b' ').unwrap_or(end);
    &v[start..end]
}

/// What the file's encoding is: enough to read and write it again the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferSyntax {
    pub uid: String,
    pub explicit_vr: bool,
    pub big_endian: bool,
    pub deflated: bool,
    pub encapsulated: bool,
}

impl TransferSyntax {
    /// Look a transfer syntax up in dicom-rs's registry.
    pub fn from_uid(uid: &str) -> Option<TransferSyntax> {
        use dicom_encoding::{Codec, TransferSyntaxIndex};
        use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
        let ts = TransferSyntaxRegistry.get(uid)?;
        let deflated = matches!(ts.codec(), Codec::Dataset(_));
        if deflated && !matches!(ts.codec(), Codec::Dataset(Some(_))) {
            return None;
        }
        Some(TransferSyntax {
            uid: ts.uid().to_string(),
            // the only implicit VR syntax the standard defines
            explicit_vr: ts.uid() != uids::IMPLICIT_VR_LITTLE_ENDIAN,
            big_endian: ts.endianness() == dicom_encoding::Endianness::Big,
            deflated,
            encapsulated: ts.is_encapsulated_pixel_data(),
        })
    }

    pub fn implicit_vr_le() -> TransferSyntax {
        TransferSyntax::from_uid(uids::IMPLICIT_VR_LITTLE_ENDIAN)
            .expect("implicit VR LE is registered")
    }
}

/// A whole DICOM file (or a bare dataset read as one): its meta information, dataset and source.
#[derive(Debug, Clone)]
pub struct DicomFile {
    /// Group 0002 as read (written anew, see `write`).
    pub meta: DataSet,
    pub transfer_syntax: TransferSyntax,
    pub dataset: DataSet,
    /// Where [`Data::Source`] values are.
    pub source: Source,
    /// A name for messages (the path, or `<bytes>`).
    pub name: String,
    /// The size of the input in bytes.
    pub source_len: u64,
}

/// An empty file in explicit VR little or big endian, for tests.
#[cfg(test)]
pub(crate) fn test_file(big_endian: bool) -> DicomFile {
    let uid = if big_endian {
        "1.2.840.10008.1.2.2" // retired, still read
    } else {
        uids::EXPLICIT_VR_LITTLE_ENDIAN
    };
    DicomFile {
        meta: DataSet::new(),
        transfer_syntax: TransferSyntax::from_uid(uid).expect("registered"),
        dataset: DataSet::new(),
        source: Source::None,
        name: "test".into(),
        source_len: 0,
    }
}

/// The item and delimitation tags (group FFFE), which `dicom_dictionary_std::tags` does not
/// list (they are not attributes).
pub const ITEM: Tag = Tag(0xFFFE, 0xE000);
pub const ITEM_DELIMITATION: Tag = Tag(0xFFFE, 0xE00D);
pub const SEQUENCE_DELIMITATION: Tag = Tag(0xFFFE, 0xE0DD);

/// The dictionary's VR for a tag (relaxed: US for US/SS, OW for OB/OW), if the tag is known.
pub fn dictionary_vr(tag: Tag) -> Option<VR> {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
    use dicom_dictionary_std::StandardDataDictionary;
    StandardDataDictionary
        .by_tag(tag)
        .map(|entry| entry.vr().relaxed())
}

/// The VRs whose values are character strings.
pub fn is_text_vr(vr: VR) -> bool {
    matches!(
        vr,
        VR::AE
            | VR::AS
            | VR::CS
            | VR::DA
            | VR::DS
            | VR::DT
            | VR::IS
            | VR::LO
            | VR::LT
            | VR::PN
            | VR::SH
            | VR::ST
            | VR::TM
            | VR::UC
            | VR::UI
            | VR::UR
            | VR::UT
    )
}

/// The VR that decides what a value is: the dictionary's when the element's is UN, or when
/// a text VR was written where the dictionary says date, time, UID, person name or AE title
/// (a StudyDate written as LO is still a date: cleaned as one, it is shifted, not kept).
pub fn value_vr(el: &Element) -> VR {
    match (el.vr, dictionary_vr(el.tag)) {
        (VR::UN, Some(dict)) => dict,
        (encoded, Some(dict))
            if encoded != dict
                && is_text_vr(encoded)
                && matches!(dict, VR::DA | VR::DT | VR::TM | VR::UI | VR::PN | VR::AE) =>
        {
            dict
        }
        (encoded, _) => encoded,
    }
}

/// Format a tag as `(gggg,eeee)`.
pub fn tag_str(tag: Tag) -> String {
    format!("({:04X},{:04X})", tag.0, tag.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_padding_strips_both_kinds() {
        assert_eq!(trim_padding(b" 1.2.3\0"), b"1.2.3");
        assert_eq!(trim_padding(b"DOE^JOHN "), b"DOE^JOHN");
        assert_eq!(trim_padding(b"   "), b"");
        assert_eq!(trim_padding(b""), b"");
    }

    #[test]
    fn put_keeps_tag_order_and_replaces() {
        let mut ds = DataSet::new();
        ds.put(Element::text(Tag(0x0010, 0x0020), VR::LO, &["B"]));
        ds.put(Element::text(Tag(0x0008, 0x0020), VR::DA, &["A"]));
        ds.put(Element::text(Tag(0x0010, 0x0020), VR::LO, &["C"]));
        let tags: Vec<Tag> = ds.elements.iter().map(|e| e.tag).collect();
        assert_eq!(tags, vec![Tag(0x0008, 0x0020), Tag(0x0010, 0x0020)]);
        assert_eq!(ds.text(Tag(0x0010, 0x0020)), Some(&b"C"[..]));
    }

    #[test]
    fn a_spool_moves_to_a_file_past_its_memory_and_reads_back() {
        let mut small = Spool::new();
        assert_eq!(small.append(b"abc").unwrap(), 0);
        assert_eq!(small.append(b"de").unwrap(), 3);
        let from = small.finish().unwrap();
        assert!(matches!(from, Source::Memory(_)));
        assert_eq!(from.read(1, 3).unwrap(), b"bcd");
        let mut big = Spool::new();
        let chunk: Vec<u8> = (0..SPOOL_MEMORY / 2 + 1).map(|i| i as u8).collect();
        let at: Vec<u64> = (0..3).map(|_| big.append(&chunk).unwrap()).collect();
        assert_eq!(at, [0, chunk.len() as u64, 2 * chunk.len() as u64]);
        let from = big.finish().unwrap();
        assert!(matches!(from, Source::File(_)));
        let data = Data::Spooled {
            from,
            offset: at[2],
            len: chunk.len() as u64,
        };
        assert_eq!(data.bytes(&Source::None).unwrap().as_ref(), &chunk[..]);
        assert_eq!(data.read_part(&Source::None, 5, 4).unwrap(), &chunk[5..9]);
    }

    #[test]
    fn registry_facts() {
        let ts = TransferSyntax::from_uid("1.2.840.10008.1.2.1.99").unwrap();
        assert!(ts.deflated && ts.explicit_vr && !ts.big_endian);
        let ts = TransferSyntax::from_uid("1.2.840.10008.1.2.2").unwrap();
        assert!(ts.big_endian && ts.explicit_vr);
        let ts = TransferSyntax::from_uid("1.2.840.10008.1.2.4.50").unwrap();
        assert!(ts.encapsulated && !ts.deflated);
        assert!(!TransferSyntax::implicit_vr_le().explicit_vr);
        assert!(TransferSyntax::from_uid("1.2.3.4").is_none());
    }
}
