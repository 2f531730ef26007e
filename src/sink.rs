//! Where the rows of a run go: one JSON line per input, in input order, written as the files
//! complete, so that a run of millions of files holds counts and refusals in memory, not a
//! line per file.
//!
//! With an audit log, the rows go to a temporary file beside it (`.dicomveil-audit-*.part`),
//! renamed to the audit log when the run ends: the log is complete or absent, never half
//! written. Without one, they go to an unlinked temporary file (in the destination when it
//! exists). Either way the caller can read them back ([`Rows`]): that is how a report lists
//! every file on demand. If a write fails (a full disk), the rows from there on are kept in
//! memory and the failure is reported at the end; the run itself goes on.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::batch::{FileOutcome, Status, TEMP_PREFIX, TEMP_SUFFIX};
use crate::error::{Error, Result};

/// Rows are written in blocks of this size.
const BLOCK: usize = 64 * 1024;

/// The writer of a run's rows.
pub struct Sink {
    file: Option<File>,
    /// Bytes of whole rows in `file`.
    good: u64,
    /// Rows not yet written to `file` (a block), or every row after `file` failed.
    buf: Vec<u8>,
    failed: Option<io::Error>,
    /// The audit log: its temporary file, and where it goes when complete.
    audit: Option<(tempfile::TempPath, PathBuf)>,
    /// The audit log's temporary file held until renamed (see [`held_tempfile`]).
    held: Option<HeldFile>,
}

impl Sink {
    /// A sink for a run: into a temporary file beside `audit` when given (created now, so a
    /// folder that cannot be written is refused before any file is touched), else into an
    /// unlinked temporary file in `spool` (or the system's temporary folder).
    pub fn open(audit: Option<&Path>, spool: Option<&Path>) -> Result<Sink> {
        let (file, audit, held) = match audit {
            Some(target) => {
                let folder = match target.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p,
                    _ => Path::new("."),
                };
                let prefix = format!("{TEMP_PREFIX}audit-");
                let mut builder = tempfile::Builder::new();
                builder.prefix(&prefix).suffix(TEMP_SUFFIX);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    builder.permissions(std::fs::Permissions::from_mode(0o644));
                }
                let (file, path, held) =
                    held_tempfile(&builder, folder).map_err(|e| Error::Io {
                        name: target.display().to_string(),
                        op: "write the audit log",
                        source: e,
                    })?;
                (file, Some((path, target.to_path_buf())), held)
            }
            None => {
                let file = spool
                    .filter(|p| p.is_dir())
                    .and_then(|p| tempfile::tempfile_in(p).ok())
                    .map_or_else(tempfile::tempfile, Ok)
                    .map_err(|e| Error::Io {
                        name: "the report's rows".into(),
                        op: "create a temporary file for",
                        source: e,
                    })?;
                (file, None, None)
            }
        };
        Ok(Sink {
            file: Some(file),
            good: 0,
            buf: Vec::with_capacity(BLOCK),
            failed: None,
            audit,
            held,
        })
    }

    /// Add the row of one input.
    pub fn push(&mut self, outcome: &FileOutcome) {
        row(outcome, &mut self.buf);
        if self.buf.len() >= BLOCK {
            self.flush();
        }
    }

    /// Write the block; after a failure, rows stay in memory.
    fn flush(&mut self) {
        let Some(file) = &mut self.file else { return };
        if self.failed.is_some() || self.buf.is_empty() {
            return;
        }
        match file.write_all(&self.buf) {
            Ok(()) => {
                self.good += self.buf.len() as u64;
                self.buf.clear();
            }
            // part of the block may be in the file: only `good` bytes count
            Err(e) => self.failed = Some(e),
        }
    }

    /// The end of the run: the audit log renamed into place (unless a write failed). Returns
    /// the rows to read back, and the audit log's failure if any.
    pub fn finish(mut self) -> (Rows, Option<Error>) {
        self.flush();
        let mut error = None;
        if let Some((temp, target)) = self.audit.take() {
            let name = target.display().to_string();
            match self.failed.take() {
                // the temporary file goes (TempPath's drop); its rows are still read back
                Some(e) => {
                    error = Some(Error::Io {
                        name,
                        op: "write the audit log",
                        source: e,
                    })
                }
                None => {
                    if let Err(e) = temp.persist(&target) {
                        error = Some(Error::Io {
                            name,
                            op: "write the audit log",
                            source: e.error,
                        });
                    }
                }
            }
        } else if let Some(e) = self.failed.take() {
            // the rows of the report only: they are in memory from the failure on
            let _ = e;
        }
        // renamed (or removed): no longer a temporary file to hold
        self.held = None;
        let rows = Rows {
            file: Mutex::new(self.file.take()),
            good: self.good,
            tail: std::mem::take(&mut self.buf),
        };
        (rows, error)
    }
}

/// A temporary file of ours in `folder`, held while open (as outputs being written are:
/// [`crate::write::hold_with`]), so that a sweep of leftovers passes over it: the audit log
/// may be written in a folder this run, or another, writes outputs to.
fn held_tempfile(builder: &tempfile::Builder<'_, '_>, folder: &Path) -> io::Result<HeldTemp> {
    for _ in 0..100 {
        let (file, path) = builder.tempfile_in(folder)?.into_parts();
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let there = || {
                let m = std::fs::symlink_metadata(&path).ok()?;
                Some((m.dev(), m.ino()))
            };
            match crate::write::hold_with(&file, there) {
                Some(held) => return Ok((file, path, Some(held))),
                None => {
                    // a sweep removed it before we held it: another one (this name is gone)
                    let _ = path.keep();
                    continue;
                }
            }
        }
        #[cfg(not(unix))]
        return Ok((file, path, None));
    }
    let (file, path) = builder.tempfile_in(folder)?.into_parts();
    Ok((file, path, None))
}

/// A temporary audit log: its file, its path, and its hold (see [`held_tempfile`]).
type HeldTemp = (File, tempfile::TempPath, Option<HeldFile>);

#[cfg(unix)]
type HeldFile = crate::write::Held;
#[cfg(not(unix))]
type HeldFile = ();

/// The rows of a finished run, to read back: `good` bytes of a file, then `tail` in memory.
pub struct Rows {
    file: Mutex<Option<File>>,
    good: u64,
    tail: Vec<u8>,
}

impl Rows {
    /// Rows held in memory only.
    pub fn in_memory(bytes: Vec<u8>) -> Rows {
        Rows {
            file: Mutex::new(None),
            good: 0,
            tail: bytes,
        }
    }

    /// Bytes in all.
    pub fn len(&self) -> u64 {
        self.good + self.tail.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Up to `size` bytes from `offset` (fewer only at the end).
    pub fn read(&self, offset: u64, size: usize) -> io::Result<Vec<u8>> {
        let end = (offset + size as u64).min(self.len());
        let mut out = Vec::with_capacity(end.saturating_sub(offset) as usize);
        if offset < self.good {
            let until = end.min(self.good);
            let mut file = self.file.lock().expect("not poisoned");
            let file = file.as_mut().expect("rows in a file have a file");
            file.seek(SeekFrom::Start(offset))?;
            file.take(until - offset).read_to_end(&mut out)?;
            if (out.len() as u64) < until - offset {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        if end > self.good {
            let from = offset.max(self.good) - self.good;
            out.extend_from_slice(&self.tail[from as usize..(end - self.good) as usize]);
        }
        Ok(out)
    }
}

/// The JSON line of one input, as the audit log has it (Python's `json.dumps` of the
/// report's row: keys in this order, `", "` and `": "` between them, text as UTF-8).
pub fn row(o: &FileOutcome, out: &mut Vec<u8>) {
    let (status, reason) = match &o.status {
        Status::Done => ("done", None),
        Status::Refused(r) => ("refused", Some(r.as_str())),
        Status::Skipped(r) => ("skipped", Some(r.as_str())),
    };
    out.extend_from_slice(b"{\"source\": ");
    path(&o.source, out);
    out.extend_from_slice(b", \"destination\": ");
    match &o.destination {
        Some(d) => path(d, out),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b", \"status\": ");
    string(status.as_bytes(), out);
    out.extend_from_slice(b", \"reason\": ");
    optional(reason.map(str::as_bytes), out);
    out.extend_from_slice(b", \"error\": ");
    optional(o.error_kind.map(str::as_bytes), out);
    let c = &o.counts;
    let numbers = format!(
        ", \"bytes_in\": {}, \"bytes_out\": {}, \"counts\": {{\"removed\": {}, \"zeroed\": {}, \
         \"dummied\": {}, \"kept\": {}, \"cleaned\": {}, \"uids_replaced\": {}}}, \"flags\": [",
        o.bytes_in, o.bytes_out, c.removed, c.zeroed, c.dummied, c.kept, c.cleaned, c.uids_replaced
    );
    out.extend_from_slice(numbers.as_bytes());
    for (i, flag) in o.flags.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        string(flag.as_bytes(), out);
    }
    out.extend_from_slice(b"], \"pixels\": ");
    optional(o.pixels.as_deref().map(str::as_bytes), out);
    out.extend_from_slice(b"}\n");
}

fn optional(text: Option<&[u8]>, out: &mut Vec<u8>) {
    match text {
        Some(t) => string(t, out),
        None => out.extend_from_slice(b"null"),
    }
}

/// A path as Python shows it (`os.fsdecode`): its bytes as UTF-8, a byte that is not
/// escaped as the surrogate `\udcXX` (`surrogateescape`), which `json.loads` gives back.
fn path(p: &Path, out: &mut Vec<u8>) {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        string(p.as_os_str().as_bytes(), out);
    }
    #[cfg(not(unix))]
    string(p.to_string_lossy().as_bytes(), out);
}

/// A JSON string of UTF-8 text; bytes that are not UTF-8 become `\udcXX`.
fn string(mut bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    // most paths and reasons are plain ASCII with nothing to escape: copied as they are
    if bytes
        .iter()
        .all(|&b| (0x20..0x80).contains(&b) && b != b'"' && b != b'\\')
    {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    while !bytes.is_empty() {
        let (valid, rest) = match std::str::from_utf8(bytes) {
            Ok(s) => (s, &[][..]),
            Err(e) => {
                let (ok, bad) = bytes.split_at(e.valid_up_to());
                (std::str::from_utf8(ok).expect("valid up to here"), bad)
            }
        };
        for c in valid.chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                '\u{8}' => out.extend_from_slice(b"\\b"),
                '\u{c}' => out.extend_from_slice(b"\\f"),
                c if (c as u32) < 0x20 => {
                    out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
                }
                c => {
                    let mut b = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
                }
            }
        }
        if let Some((&bad, rest)) = rest.split_first() {
            out.extend_from_slice(format!("\\udc{bad:02x}").as_bytes());
            bytes = rest;
        } else {
            bytes = rest;
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(source: &str, status: Status) -> FileOutcome {
        FileOutcome {
            status,
            bytes_in: 10,
            flags: vec!["burned-in-annotation"],
            ..FileOutcome::new(PathBuf::from(source))
        }
    }

    #[test]
    fn rows_read_like_python_json() {
        let mut out = Vec::new();
        row(
            &outcome("a\"b\\c\n\u{1}é", Status::Skipped("not DICOM".into())),
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"source\": \"a\\\"b\\\\c\\n\\u0001é\", \"destination\": null, \"status\": \
             \"skipped\", \"reason\": \"not DICOM\", \"error\": null, \"bytes_in\": 10, \
             \"bytes_out\": 0, \"counts\": {\"removed\": 0, \"zeroed\": 0, \"dummied\": 0, \
             \"kept\": 0, \"cleaned\": 0, \"uids_replaced\": 0}, \"flags\": \
             [\"burned-in-annotation\"], \"pixels\": null}\n"
        );
    }

    #[cfg(unix)]
    #[test]
    fn undecodable_bytes_of_a_path_are_surrogate_escapes() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let mut out = Vec::new();
        path(Path::new(OsStr::from_bytes(b"x\xffy\xc3")), &mut out);
        assert_eq!(out, b"\"x\\udcffy\\udcc3\"");
    }

    #[test]
    fn a_sink_reads_back_what_was_pushed_and_renames_the_audit_log() {
        let dir = tempfile::tempdir().unwrap();
        let audit = dir.path().join("audit.jsonl");
        let mut sink = Sink::open(Some(&audit), None).unwrap();
        let mut expected = Vec::new();
        for i in 0..5000 {
            let o = outcome(&format!("f{i}.dcm"), Status::Done);
            row(&o, &mut expected);
            sink.push(&o);
        }
        assert!(!audit.exists()); // not before the end
        let (rows, error) = sink.finish();
        assert!(error.is_none());
        assert_eq!(std::fs::read(&audit).unwrap(), expected);
        assert_eq!(rows.len(), expected.len() as u64);
        assert_eq!(rows.read(0, expected.len()).unwrap(), expected);
        assert_eq!(rows.read(100, 50).unwrap(), &expected[100..150]);
        // nothing else left in the folder
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn an_audit_folder_that_cannot_be_written_is_refused_at_once() {
        let e = Sink::open(Some(Path::new("/nonexistent-folder/audit.jsonl")), None)
            .err()
            .unwrap();
        assert!(e
            .to_string()
            .starts_with("/nonexistent-folder/audit.jsonl: cannot write the audit log"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_disk_keeps_the_rows_and_says_the_audit_log_failed() {
        // /dev/full: every write fails with ENOSPC
        let full = File::options().write(true).open("/dev/full").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("audit.jsonl");
        let temp = tempfile::NamedTempFile::new_in(dir.path())
            .unwrap()
            .into_temp_path();
        let mut sink = Sink {
            file: Some(full),
            good: 0,
            buf: Vec::new(),
            failed: None,
            audit: Some((temp, target.clone())),
            held: None,
        };
        let mut expected = Vec::new();
        for i in 0..3000 {
            let o = outcome(&format!("f{i}.dcm"), Status::Done);
            row(&o, &mut expected);
            sink.push(&o);
        }
        let (rows, error) = sink.finish();
        let message = error.unwrap().to_string();
        assert!(message.contains("cannot write the audit log"), "{message}");
        assert!(!target.exists());
        assert_eq!(rows.read(0, expected.len()).unwrap(), expected);
    }
}
