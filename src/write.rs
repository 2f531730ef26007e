//! Write: a [`DicomFile`] tree out as a Part 10 file in its transfer syntax.
//!
//! Headers are encoded by dicom-rs's encoders; values are written as the raw bytes they are,
//! bulk values copied from the source in chunks. Sequences and items are written with
//! undefined length (valid in every transfer syntax, and no length to recompute after edits).
//! The meta group is generated anew with a correct group length.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use dicom_core::header::{DataElementHeader, Length};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::encode::explicit_be::ExplicitVRBigEndianEncoder;
use dicom_encoding::encode::explicit_le::ExplicitVRLittleEndianEncoder;
use dicom_encoding::encode::implicit_le::ImplicitVRLittleEndianEncoder;
use dicom_encoding::encode::Encode;

use crate::action::padding;
use crate::dataset::{Data, DataSet, DicomFile, Element, Source, Value};
use crate::error::{Error, Result};

/// Our implementation class UID (a 2.25 UID derived once from the project name) and version.
pub const IMPLEMENTATION_CLASS_UID: &str = "2.25.255960418712391823598116440379541316187";
pub const IMPLEMENTATION_VERSION_NAME: &str = concat!("DICOMVEIL_", env!("CARGO_PKG_VERSION"));

const UNDEFINED: u32 = 0xFFFF_FFFF;

enum HeaderEncoder {
    ImplicitLe(ImplicitVRLittleEndianEncoder),
    ExplicitLe(ExplicitVRLittleEndianEncoder),
    ExplicitBe(ExplicitVRBigEndianEncoder),
}

impl HeaderEncoder {
    fn new(explicit_vr: bool, big_endian: bool) -> Self {
        match (explicit_vr, big_endian) {
            (false, _) => HeaderEncoder::ImplicitLe(Default::default()),
            (true, false) => HeaderEncoder::ExplicitLe(Default::default()),
            (true, true) => HeaderEncoder::ExplicitBe(Default::default()),
        }
    }

    fn explicit(&self) -> bool {
        !matches!(self, HeaderEncoder::ImplicitLe(_))
    }

    fn element(&self, out: &mut dyn Write, tag: Tag, vr: VR, len: u32) -> io::Result<()> {
        let header = DataElementHeader::new(tag, vr, Length(len));
        let r = match self {
            HeaderEncoder::ImplicitLe(e) => e.encode_element_header(out, header).map(drop),
            HeaderEncoder::ExplicitLe(e) => e.encode_element_header(out, header).map(drop),
            HeaderEncoder::ExplicitBe(e) => e.encode_element_header(out, header).map(drop),
        };
        r.map_err(io::Error::other)
    }

    fn item(&self, out: &mut dyn Write, len: u32) -> io::Result<()> {
        let r = match self {
            HeaderEncoder::ImplicitLe(e) => e.encode_item_header(out, len),
            HeaderEncoder::ExplicitLe(e) => e.encode_item_header(out, len),
            HeaderEncoder::ExplicitBe(e) => e.encode_item_header(out, len),
        };
        r.map_err(io::Error::other)
    }

    fn item_end(&self, out: &mut dyn Write) -> io::Result<()> {
        let r = match self {
            HeaderEncoder::ImplicitLe(e) => e.encode_item_delimiter(out),
            HeaderEncoder::ExplicitLe(e) => e.encode_item_delimiter(out),
            HeaderEncoder::ExplicitBe(e) => e.encode_item_delimiter(out),
        };
        r.map_err(io::Error::other)
    }

    fn sequence_end(&self, out: &mut dyn Write) -> io::Result<()> {
        let r = match self {
            HeaderEncoder::ImplicitLe(e) => e.encode_sequence_delimiter(out),
            HeaderEncoder::ExplicitLe(e) => e.encode_sequence_delimiter(out),
            HeaderEncoder::ExplicitBe(e) => e.encode_sequence_delimiter(out),
        };
        r.map_err(io::Error::other)
    }
}

/// VRs whose length field is 16 bits in explicit VR.
fn short_length(vr: VR) -> bool {
    matches!(
        vr,
        VR::AE
            | VR::AS
            | VR::AT
            | VR::CS
            | VR::DA
            | VR::DS
            | VR::DT
            | VR::FL
            | VR::FD
            | VR::IS
            | VR::LO
            | VR::LT
            | VR::PN
            | VR::SH
            | VR::SL
            | VR::SS
            | VR::ST
            | VR::TM
            | VR::UI
            | VR::UL
            | VR::US
    )
}

struct Writer<'a> {
    enc: HeaderEncoder,
    source: &'a Source,
    /// Set when the output is this file, written at its position (through a buffer that is
    /// flushed first): bulk values of a source file are then copied file to file by the
    /// kernel, never through our memory. Not set for a deflated data set.
    direct: Option<Direct<'a>>,
}

struct Direct<'a> {
    file: &'a fs::File,
    /// Bytes copied by the kernel (the output's byte count does not see them).
    copied: std::cell::Cell<u64>,
}

impl Writer<'_> {
    /// The top-level dataset. Group 0002 belongs to the meta, written above from the meta
    /// group: elements of it found in the dataset (invalid there) are not written, or a reader
    /// would take them for more of the meta.
    fn top_level(&self, ds: &DataSet, out: &mut dyn Write) -> io::Result<()> {
        for el in ds.elements.iter().filter(|e| e.tag.0 != 0x0002) {
            self.element(el, out)?;
        }
        Ok(())
    }

    fn dataset(&self, ds: &DataSet, out: &mut dyn Write) -> io::Result<()> {
        for el in &ds.elements {
            self.element(el, out)?;
        }
        Ok(())
    }

    fn element(&self, el: &Element, out: &mut dyn Write) -> io::Result<()> {
        match &el.value {
            Value::Primitive(data) => {
                let len = data.len();
                let padded = len + len % 2;
                let padded32 = u32::try_from(padded)
                    .ok()
                    .filter(|&l| l != UNDEFINED)
                    .ok_or_else(|| io::Error::other("a value is too long for DICOM"))?;
                let mut vr = el.vr;
                if self.enc.explicit() && short_length(vr) && padded > 0xFFFF {
                    // too long for a 16-bit length: UN is the only faithful explicit encoding
                    vr = VR::UN;
                }
                self.enc.element(out, el.tag, vr, padded32)?;
                self.data(data, out)?;
                if len % 2 == 1 {
                    out.write_all(&[padding(vr)])?;
                }
            }
            Value::Sequence(items) => {
                self.enc.element(out, el.tag, VR::SQ, UNDEFINED)?;
                for item in items {
                    self.enc.item(out, UNDEFINED)?;
                    self.dataset(item, out)?;
                    self.enc.item_end(out)?;
                }
                self.enc.sequence_end(out)?;
            }
            Value::Fragments(fragments) => {
                // encapsulated pixel data is OB (PS3.5 A.4), whatever an implicit reader guessed
                self.enc.element(out, el.tag, VR::OB, UNDEFINED)?;
                for f in fragments {
                    let len = f.len();
                    let len32 = u32::try_from(len + len % 2)
                        .map_err(|_| io::Error::other("a fragment is too long for DICOM"))?;
                    self.enc.item(out, len32)?;
                    self.data(f, out)?;
                    if len % 2 == 1 {
                        out.write_all(&[0])?;
                    }
                }
                self.enc.sequence_end(out)?;
            }
        }
        Ok(())
    }

    fn data(&self, data: &Data, out: &mut dyn Write) -> io::Result<()> {
        match data {
            Data::Inline(v) => out.write_all(v),
            Data::Source { offset, len } => self.copy(*offset, *len, out),
            Data::Edited { offset, len, edit } => {
                // the bytes the edit may change go through it; the rest is copied as any
                // bulk value (by the kernel where it can)
                let mut at = 0;
                edit.touched(*len, EDIT_GAP, &mut |start, end| {
                    self.copy(offset + at, start - at, out)?;
                    self.source
                        .copy_edited(*offset, start, end - start, edit, out)?;
                    at = end;
                    Ok(())
                })?;
                self.copy(offset + at, len - at, out)
            }
            Data::Spooled { from, offset, len } => from.copy_to(*offset, *len, out),
            // decoded frame by frame as it is written
            Data::Frames(frames) => frames.write_native(out),
        }
    }

    /// Copy `len` bytes of the source at `offset`: by the kernel when writing a file from a
    /// file, else through a buffer.
    fn copy(&self, offset: u64, len: u64, out: &mut dyn Write) -> io::Result<()> {
        if len == 0 {
            return Ok(());
        }
        let mut done = 0;
        if let (Some(direct), Source::File(from)) = (&self.direct, self.source) {
            out.flush()?;
            done = kernel_copy(from, offset, direct.file, len)?;
            direct.copied.set(direct.copied.get() + done);
        }
        // what the kernel did not copy (none of it, where it cannot) is copied here
        self.source.copy_to(offset + done, len - done, out)
    }
}

/// Unchanged bytes between two edited runs of pixel data that are copied through the edit
/// rather than by a call of their own (below this, the call costs more than the copy).
const EDIT_GAP: u64 = 64 * 1024;

/// Copy `len` bytes of `from` at `offset` to `to` at its position, in the kernel
/// (`copy_file_range`: no copy through user space, and a reflink where the file system has
/// them). Returns the bytes copied: fewer than `len` (maybe none) where the kernel or the
/// file systems cannot, and the caller copies the rest.
///
/// Called through `syscall`, not glibc's wrapper: the wrapper appeared in glibc 2.27, and a
/// manylinux2014 wheel must load on glibc 2.17, where an extension that names
/// `copy_file_range` fails to import ("undefined symbol"). A kernel without the call answers
/// ENOSYS, and the plain copy takes over.
#[cfg(target_os = "linux")]
fn kernel_copy(from: &fs::File, offset: u64, to: &fs::File, len: u64) -> io::Result<u64> {
    use std::os::unix::io::AsRawFd;
    let mut done = 0u64;
    while done < len {
        let mut off_in = (offset + done) as libc::loff_t;
        let chunk = (len - done).min(1 << 30) as usize;
        // SAFETY: both descriptors are open files owned by the caller; `off_in` is a valid
        // pointer; a null `off_out` means the output's own position, which the call advances.
        let n = unsafe {
            libc::syscall(
                libc::SYS_copy_file_range,
                from.as_raw_fd(),
                &mut off_in as *mut libc::loff_t,
                to.as_raw_fd(),
                std::ptr::null_mut::<libc::loff_t>(),
                chunk,
                0 as libc::c_uint,
            )
        };
        match n {
            0 => break, // the source ended early: the plain copy reports it
            n if n > 0 => done += n as u64,
            _ => {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    // not possible here (old kernel, across file systems, special files,
                    // sandboxes that forbid it): the plain copy takes over
                    Some(
                        libc::ENOSYS
                        | libc::EXDEV
                        | libc::EINVAL
                        | libc::EOPNOTSUPP
                        | libc::EPERM
                        | libc::ETXTBSY
                        | libc::EBADF
                        | libc::EIO,
                    ) => break,
                    _ => return Err(e),
                }
            }
        }
    }
    Ok(done)
}

#[cfg(not(target_os = "linux"))]
fn kernel_copy(_from: &fs::File, _offset: u64, _to: &fs::File, _len: u64) -> io::Result<u64> {
    Ok(0)
}

/// The meta group as written: version, SOP class and instance (from the dataset when it has
/// them), transfer syntax, and our implementation class and version.
fn meta_group(file: &DicomFile) -> DataSet {
    let uid_of = |ds_tag: Tag, meta_tag: Tag| -> Option<Vec<u8>> {
        file.dataset
            .text(ds_tag)
            .filter(|v| !v.is_empty())
            .or_else(|| file.meta.text(meta_tag))
            .map(|v| v.to_vec())
    };
    let mut meta = DataSet::new();
    meta.put(Element::bytes(
        tags::FILE_META_INFORMATION_VERSION,
        VR::OB,
        vec![0, 1],
    ));
    if let Some(v) = uid_of(tags::SOP_CLASS_UID, tags::MEDIA_STORAGE_SOP_CLASS_UID) {
        meta.put(Element::bytes(tags::MEDIA_STORAGE_SOP_CLASS_UID, VR::UI, v));
    }
    if let Some(v) = uid_of(tags::SOP_INSTANCE_UID, tags::MEDIA_STORAGE_SOP_INSTANCE_UID) {
        meta.put(Element::bytes(
            tags::MEDIA_STORAGE_SOP_INSTANCE_UID,
            VR::UI,
            v,
        ));
    }
    meta.put(Element::text(
        tags::TRANSFER_SYNTAX_UID,
        VR::UI,
        &[&file.transfer_syntax.uid],
    ));
    meta.put(Element::text(
        tags::IMPLEMENTATION_CLASS_UID,
        VR::UI,
        &[IMPLEMENTATION_CLASS_UID],
    ));
    meta.put(Element::text(
        tags::IMPLEMENTATION_VERSION_NAME,
        VR::SH,
        &[IMPLEMENTATION_VERSION_NAME],
    ));
    meta
}

/// Write a whole Part 10 file: preamble (zeros), `DICM`, meta group, dataset.
pub fn write_file(file: &DicomFile, out: &mut dyn Write) -> io::Result<()> {
    write_part10(file, out, None).map(drop)
}

/// [`write_file`]; with `direct`, the file `out` writes to, at its position, for copies in
/// the kernel. Returns the bytes copied that way.
fn write_part10(
    file: &DicomFile,
    out: &mut dyn Write,
    direct: Option<&fs::File>,
) -> io::Result<u64> {
    out.write_all(&[0u8; 128])?;
    out.write_all(b"DICM")?;
    let meta_writer = Writer {
        enc: HeaderEncoder::new(true, false),
        source: &Source::None,
        direct: None,
    };
    let mut meta_bytes = Vec::with_capacity(256);
    meta_writer.dataset(&meta_group(file), &mut meta_bytes)?;
    let group_length = Element::bytes(
        tags::FILE_META_INFORMATION_GROUP_LENGTH,
        VR::UL,
        (meta_bytes.len() as u32).to_le_bytes().to_vec(),
    );
    meta_writer.element(&group_length, out)?;
    out.write_all(&meta_bytes)?;

    let ts = &file.transfer_syntax;
    let mut writer = Writer {
        enc: HeaderEncoder::new(ts.explicit_vr, ts.big_endian),
        source: &file.source,
        direct: None,
    };
    if ts.deflated {
        let mut z = flate2::write::DeflateEncoder::new(out, flate2::Compression::default());
        writer.top_level(&file.dataset, &mut z)?;
        z.finish()?;
    } else {
        writer.direct = direct.map(|file| Direct {
            file,
            copied: Default::default(),
        });
        writer.top_level(&file.dataset, out)?;
    }
    Ok(writer.direct.map_or(0, |d| d.copied.get()))
}

/// The whole Part 10 file as bytes.
pub fn to_bytes(file: &DicomFile) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    write_file(file, &mut out).map_err(|e| write_error(file, "encode", e))?;
    Ok(out)
}

fn write_error(file: &DicomFile, op: &'static str, source: io::Error) -> Error {
    pixel_error(source).unwrap_or_else(|source| Error::Io {
        name: file.name.clone(),
        op,
        source,
    })
}

/// A frame decoded while it is written that does not decode ([`crate::codecs::FrameError`],
/// which names the file) is a pixel data error, not one of the output.
pub(crate) fn pixel_error(e: io::Error) -> std::result::Result<Error, io::Error> {
    let frame = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<crate::codecs::FrameError>());
    match frame {
        Some(f) => Ok(Error::PixelData {
            name: f.name.clone(),
            problem: format!("it {}", f.problem),
        }),
        None => Err(e),
    }
}

/// Counts the bytes that pass through.
struct Counting<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Write the whole Part 10 file into `out`, a new empty file (bulk values of a source file
/// copied by the kernel where it can). Returns the bytes written.
fn write_into(file: &DicomFile, out: &fs::File) -> io::Result<u64> {
    // headers and small values gather here; bulk values bypass it (copied by the kernel, or
    // written in large chunks). Sized to the input when that is small: a buffer much larger
    // than the file costs a fresh mapping per file where malloc's trimming is tuned down
    // (as Dask's workers do).
    let capacity = (file.source_len as usize + 1024).clamp(4 * 1024, 64 * 1024);
    let mut counting = Counting {
        inner: BufWriter::with_capacity(capacity, out),
        count: 0,
    };
    let copied = write_part10(file, &mut counting, Some(out))?;
    counting.flush()?;
    Ok(counting.count + copied)
}

/// The error of a file operation (`op`) on `path`.
pub(crate) fn io_error<'a>(path: &'a Path, op: &'static str) -> impl Fn(io::Error) -> Error + 'a {
    move |source| {
        pixel_error(source).unwrap_or_else(|source| Error::Io {
            name: path.display().to_string(),
            op,
            source,
        })
    }
}

/// The folder and the file name of `path`, the output of [`save`]. A path that names no file
/// (ending with `..` or a separator) is refused.
fn split_output(path: &Path) -> Result<(&Path, &std::ffi::OsStr)> {
    let ends_with_separator = path
        .as_os_str()
        .as_encoded_bytes()
        .last()
        .is_some_and(|&b| std::path::is_separator(b as char));
    match path.file_name() {
        Some(name) if !ends_with_separator => {
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            Ok((dir, name))
        }
        _ => Err(io_error(path, "write")(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path names a folder, not a file",
        ))),
    }
}

/// The temporary files of ours this process holds, by device and inode. A sweep passes over
/// them without opening them: where `flock` is emulated by POSIX locks (NFS), a process's own
/// locks do not keep its other descriptors out, and closing any descriptor of a file releases
/// them all.
#[cfg(unix)]
static HELD: std::sync::Mutex<Vec<(u64, u64)>> = std::sync::Mutex::new(Vec::new());

/// The device and inode of a file (their types differ from one system to another).
#[cfg(unix)]
#[allow(clippy::unnecessary_cast)]
pub(crate) fn file_id(stat: &rustix::fs::Stat) -> (u64, u64) {
    (stat.st_dev as u64, stat.st_ino as u64)
}

/// A temporary file of ours held by this process (see [`hold_with`]); released when dropped.
#[cfg(unix)]
#[derive(Debug)]
pub(crate) struct Held((u64, u64));

#[cfg(unix)]
impl Held {
    fn new(id: (u64, u64)) -> Held {
        HELD.lock().unwrap_or_else(|e| e.into_inner()).push(id);
        Held(id)
    }

    /// Does this process hold the file of this device and inode ([`file_id`])?
    pub(crate) fn here(id: (u64, u64)) -> bool {
        HELD.lock().unwrap_or_else(|e| e.into_inner()).contains(&id)
    }
}

#[cfg(unix)]
impl Drop for Held {
    fn drop(&mut self) {
        let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = held.iter().position(|id| *id == self.0) {
            held.swap_remove(at);
        }
    }
}

/// Hold a temporary file of ours, just created, until it is closed or renamed: known to this
/// process's sweeps ([`Held`]) and locked (`flock`) for other processes', so that a sweep of
/// leftovers ([`crate::dest`]) never removes one being written, by this run or another.
/// `there` gives the device and inode its name has now: None when a sweep removed it between
/// its creation and the lock (the caller creates another). Where the file system has no
/// locks, other processes see no lock, and no run sweeps there (a run needs its own lock).
#[cfg(unix)]
pub(crate) fn hold_with(
    fd: &impl std::os::fd::AsFd,
    there: impl FnOnce() -> Option<(u64, u64)>,
) -> Option<Held> {
    use rustix::fs::{flock, fstat, FlockOperation};
    let id = file_id(&fstat(fd).ok()?);
    let held = Held::new(id);
    let _ = flock(fd, FlockOperation::LockExclusive);
    (there() == Some(id)).then_some(held)
}

/// [`hold_with`] for the file `name` in the open folder `dir`.
#[cfg(unix)]
fn hold(dir: std::os::fd::BorrowedFd<'_>, name: &str, fd: &impl std::os::fd::AsFd) -> Option<Held> {
    use rustix::fs::{statat, AtFlags};
    hold_with(fd, || {
        Some(file_id(&statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).ok()?))
    })
}

/// A temporary file of ours in a folder (`.dicomveil-XXXXXX.part`), removed when dropped
/// unless it was renamed into place. Held while it is written ([`hold_with`]).
#[cfg(unix)]
struct Temporary<'a> {
    dir: std::os::fd::BorrowedFd<'a>,
    name: String,
    renamed: bool,
    _held: Option<Held>,
}

#[cfg(unix)]
impl<'a> Temporary<'a> {
    /// Create one in `dir`, new (never an existing file, never through a link), mode 0644
    /// (less the umask).
    fn create(dir: std::os::fd::BorrowedFd<'a>) -> io::Result<(Temporary<'a>, fs::File)> {
        use rustix::fs::{openat, Mode, OFlags};
        use rustix::io::Errno;
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mut tries = 0;
        loop {
            let random: String = std::iter::repeat_with(fastrand::alphanumeric)
                .take(6)
                .collect();
            let name = format!(
                "{}{random}{}",
                crate::batch::TEMP_PREFIX,
                crate::batch::TEMP_SUFFIX
            );
            match openat(dir, name.as_str(), flags, Mode::from_raw_mode(0o644)) {
                Ok(fd) => {
                    let held = hold(dir, &name, &fd);
                    // a sweep of leftovers removed it before we held it: another one
                    if held.is_none() && tries < 100 {
                        tries += 1;
                        continue;
                    }
                    let temporary = Temporary {
                        dir,
                        name,
                        renamed: false,
                        _held: held,
                    };
                    return Ok((temporary, fs::File::from(fd)));
                }
                Err(Errno::EXIST) if tries < 100 => tries += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Rename it to `name` in its folder (replacing what is there: a file, or a link itself,
    /// never what a link points to).
    fn rename_to(mut self, name: &std::ffi::OsStr) -> io::Result<()> {
        rustix::fs::renameat(self.dir, self.name.as_str(), self.dir, name)?;
        self.renamed = true;
        Ok(())
    }
}

#[cfg(unix)]
impl Drop for Temporary<'_> {
    fn drop(&mut self) {
        if !self.renamed {
            let _ =
                rustix::fs::unlinkat(self.dir, self.name.as_str(), rustix::fs::AtFlags::empty());
        }
    }
}

/// Save atomically as `name` in the open folder `dir`: written to a temporary file created in
/// that folder (never through a link), renamed to `name` when complete. On any error nothing
/// is left behind. `path` is the output's path, for messages. Returns the bytes written.
#[cfg(unix)]
pub fn save_in(
    file: &DicomFile,
    dir: std::os::fd::BorrowedFd<'_>,
    name: &std::ffi::OsStr,
    path: &Path,
) -> Result<u64> {
    let (temporary, out) =
        Temporary::create(dir).map_err(io_error(path, "create a temporary file beside it"))?;
    let written = write_into(file, &out).map_err(io_error(path, "write"))?;
    // closed (and so released) only once renamed: a sweep never takes it for a leftover
    temporary
        .rename_to(name)
        .map_err(io_error(path, "rename the finished file into place"))?;
    drop(out);
    Ok(written)
}

/// Save atomically: written to a temporary file beside `path` (mode 0644, less the umask, on
/// Unix), renamed over it when complete. On any error nothing is left behind. Returns the
/// bytes written.
pub fn save(file: &DicomFile, path: &Path) -> Result<u64> {
    let (dir, name) = split_output(path)?;
    #[cfg(unix)]
    {
        use rustix::fs::{open, Mode, OFlags};
        let folder = open(
            dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io_error(path, "open its folder")(e.into()))?;
        save_in(file, std::os::fd::AsFd::as_fd(&folder), name, path)
    }
    #[cfg(not(unix))]
    {
        let _ = name;
        let tmp = tempfile::Builder::new()
            .prefix(crate::batch::TEMP_PREFIX)
            .suffix(crate::batch::TEMP_SUFFIX)
            .tempfile_in(dir)
            .map_err(io_error(path, "create a temporary file beside it"))?;
        let written = write_into(file, tmp.as_file()).map_err(io_error(path, "write"))?;
        tmp.persist(path)
            .map_err(|e| io_error(path, "rename the finished file into place")(e.error))?;
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> DicomFile {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/ct_explicit_le.dcm");
        crate::read::read_path(&path).unwrap()
    }

    fn no_temporary_files(dir: &Path) {
        let names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| crate::batch::is_temp_name(n))
            .collect();
        assert!(names.is_empty(), "{names:?}");
    }

    #[cfg(unix)]
    #[test]
    fn a_sweep_passes_over_the_temporary_files_this_process_holds_without_opening_them() {
        // where flock is emulated by POSIX locks (NFS) a process's own lock does not keep its
        // sweep out (and its closing the file would release it): held without a lock here
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".dicomveil-nfs.part");
        let file = fs::File::create(&path).unwrap();
        let meta = file.metadata().unwrap();
        let held = Held::new((meta.dev(), meta.ino()));
        fs::write(dir.path().join(".dicomveil-dead.part"), b"x").unwrap();
        assert_eq!(crate::dest::remove_leftovers_in(dir.path()), 1);
        assert!(path.exists());
        drop(held);
        assert_eq!(crate::dest::remove_leftovers_in(dir.path()), 1);
        assert!(!path.exists());
        // an output being written, and the audit log's temporary file, are held
        let folder = rustix::fs::open(
            dir.path(),
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
        let (temporary, _out) = Temporary::create(std::os::fd::AsFd::as_fd(&folder)).unwrap();
        assert!(temporary._held.is_some());
        assert_eq!(crate::dest::remove_leftovers_in(dir.path()), 0);
        drop(temporary);
        no_temporary_files(dir.path());
    }

    #[test]
    fn a_failed_rename_names_the_output() {
        let dir = tempfile::tempdir().unwrap();
        let taken = dir.path().join("taken.dcm");
        fs::create_dir(&taken).unwrap();
        let e = save(&sample(), &taken).unwrap_err();
        assert_eq!(e.kind(), "FileAccessError");
        let message = e.to_string();
        assert!(
            message.starts_with(&format!(
                "{}: cannot rename the finished file into place: ",
                taken.display()
            )),
            "{message}"
        );
        no_temporary_files(dir.path());
    }

    #[test]
    fn a_temporary_file_that_cannot_be_created_names_the_output() {
        // a folder where no file can be created, even by root; elsewhere, a file as a folder
        let dir = tempfile::tempdir().unwrap();
        let folder = if cfg!(target_os = "linux") {
            std::path::PathBuf::from("/proc/self")
        } else {
            let path = dir.path().join("nowhere");
            fs::write(&path, b"a file, not a folder").unwrap();
            path
        };
        let output = folder.join("x.dcm");
        let message = save(&sample(), &output).unwrap_err().to_string();
        let expected = if cfg!(target_os = "linux") {
            "cannot create a temporary file beside it: "
        } else {
            "cannot "
        };
        assert!(
            message.starts_with(&format!("{}: {expected}", output.display())),
            "{message}"
        );
        // nothing after a word that wants a path
        assert!(
            !message.contains(" of:") && !message.contains(" to:"),
            "{message}"
        );
    }

    #[test]
    fn a_missing_folder_or_a_folder_path_names_the_output() {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("missing/x.dcm");
        let message = save(&sample(), &output).unwrap_err().to_string();
        assert!(
            message.starts_with(&format!("{}: cannot open its folder: ", output.display())),
            "{message}"
        );
        let mut folder = dir.path().as_os_str().to_os_string();
        folder.push("/");
        let message = save(&sample(), Path::new(&folder)).unwrap_err().to_string();
        assert_eq!(
            message,
            format!(
                "{}: cannot write: the path names a folder, not a file",
                Path::new(&folder).display()
            )
        );
        // and a good save leaves the file and nothing else
        let out = dir.path().join("ok.dcm");
        assert!(save(&sample(), &out).unwrap() > 0);
        no_temporary_files(dir.path());
    }
}
