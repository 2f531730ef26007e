//! Batch: a whole tree of files, in parallel on a rayon pool, with a report.
//!
//! Every file is read, decided and written by its own worker with nothing shared but the
//! compiled profile and the key (both immutable). A file that fails is reported and the run
//! goes on; outputs are written atomically, so a failed file leaves nothing behind.

use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::anonymize::{Anonymizer, Counts};
use crate::dataset::DicomFile;
use crate::error::{Error, Result};
use crate::read::{is_dicomdir, read_path};
use crate::write::save;

/// How output files are named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Naming {
    /// The input's path relative to the source folder.
    Mirror,
    /// A template of `{Keyword}` fields filled from the de-identified dataset (new UIDs),
    /// e.g. `{StudyInstanceUID}/{SeriesInstanceUID}/{SOPInstanceUID}.dcm`.
    Template(String),
}

/// Options of a tree run.
#[derive(Debug, Clone)]
pub struct TreeOptions {
    pub workers: usize,
    pub recursive: bool,
    pub naming: Naming,
    /// Stop at the first refused file instead of going on.
    pub stop_on_error: bool,
    /// Decide everything, write nothing.
    pub dry_run: bool,
    /// Only these files, relative to the source folder (a batch of a larger run), instead of
    /// listing the folder.
    pub only: Option<Vec<PathBuf>>,
}

impl Default for TreeOptions {
    fn default() -> Self {
        TreeOptions {
            workers: 0,
            recursive: true,
            naming: Naming::Mirror,
            stop_on_error: false,
            dry_run: false,
            only: None,
        }
    }
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Done,
    /// DICOM that could not be de-identified; the reason names the problem.
    Refused(String),
    /// Not DICOM, or a DICOMDIR; not written.
    Skipped(String),
}

/// The outcome for one input file.
#[derive(Debug, Clone)]
pub struct FileOutcome {
    pub source: PathBuf,
    pub destination: Option<PathBuf>,
    pub status: Status,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub counts: Counts,
    pub flags: Vec<&'static str>,
    /// Error class for refused files (`InvalidDicomError`, ...), for the Python side.
    pub error_kind: Option<&'static str>,
}

/// The report of a run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub files: Vec<FileOutcome>,
    pub elapsed: Duration,
    /// True when the run stopped early (stop on error, or cancelled).
    pub stopped: bool,
}

/// Progress, as seen by the callback.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    pub total: usize,
    pub finished: usize,
    pub refused: usize,
    pub bytes_in: u64,
}

/// A rayon pool of `workers` threads (0: one per available core).
pub fn thread_pool(workers: usize) -> Result<rayon::ThreadPool> {
    let workers = if workers == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        workers
    };
    rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .thread_name(|i| format!("dicomveil-{i}"))
        .build()
        .map_err(|e| Error::Io {
            name: "thread pool".into(),
            op: "start",
            source: std::io::Error::other(e.to_string()),
        })
}

/// Files under `src`, sorted; our own temporary files are passed over.
pub fn list_files(src: &Path, recursive: bool) -> Result<Vec<PathBuf>> {
    Ok(list_tree(src, recursive)?.files)
}

/// What a folder holds: regular files, and symbolic links (not followed: a link could lead
/// out of the tree, or to a file twice).
pub struct Listing {
    pub files: Vec<PathBuf>,
    pub links: Vec<PathBuf>,
    /// Folders below the top that could not be listed, and why: reported, not fatal.
    pub unreadable: Vec<(PathBuf, String)>,
}

/// Files and links under `src`, sorted; our own temporary files are passed over.
pub fn list_tree(src: &Path, recursive: bool) -> Result<Listing> {
    let walker = walkdir::WalkDir::new(src)
        .max_depth(if recursive { usize::MAX } else { 1 })
        .sort_by_file_name();
    let mut files = Vec::new();
    let mut links = Vec::new();
    let mut unreadable = Vec::new();
    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            // a folder below the top that cannot be listed: the rest of the tree goes on
            Err(e) if e.depth() > 0 && e.path().is_some() => {
                let path = e.path().expect("checked").to_path_buf();
                let why = e
                    .io_error()
                    .map_or_else(|| "a loop of links".to_string(), |io| io.to_string());
                unreadable.push((path, format!("cannot list the folder: {why}")));
                continue;
            }
            Err(e) => {
                return Err(Error::Io {
                    name: e
                        .path()
                        .map_or_else(|| src.display().to_string(), |p| p.display().to_string()),
                    op: "list",
                    source: e
                        .into_io_error()
                        .unwrap_or_else(|| std::io::Error::other("loop")),
                })
            }
        };
        if entry.file_type().is_file() {
            let name = entry.file_name().to_string_lossy();
            if name.starts_with(".dicomveil-") && name.ends_with(".part") {
                continue;
            }
            files.push(entry.into_path());
        } else if entry.path_is_symlink() && entry.depth() > 0 {
            links.push(entry.into_path());
        }
    }
    Ok(Listing {
        files,
        links,
        unreadable,
    })
}

/// Characters allowed in a path component made from a template field.
fn safe_component(value: &str) -> String {
    let cleaned: String = value
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match cleaned.as_str() {
        "" | "." | ".." => "_".to_string(),
        _ => cleaned,
    }
}

/// Fill a naming template from a de-identified dataset.
pub fn fill_template(template: &str, file: &DicomFile) -> Result<PathBuf> {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
    use dicom_dictionary_std::StandardDataDictionary;
    let bad = |problem: String| Error::Template {
        template: template.to_string(),
        problem,
    };
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| bad("an unclosed {".into()))?
            + start;
        let keyword = &rest[start + 1..end];
        let tag = StandardDataDictionary
            .by_name(keyword)
            .map(|e| e.tag())
            .ok_or_else(|| {
                bad(format!(
                    "unknown keyword {keyword:?} in the naming template"
                ))
            })?;
        let value = file
            .dataset
            .text(tag)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "unknown".into());
        out.push_str(&safe_component(&value));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    let path = PathBuf::from(out);
    if path.is_absolute()
        || path
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
    {
        return Err(bad("it must give a relative path".into()));
    }
    Ok(path)
}

/// Anonymize one file to `dst` (or, with `naming`, below `dst_root`). Returns the outcome.
/// Output paths claimed so far in a run (with the source that claimed each), so that two
/// inputs never write the same output.
type Claims = Mutex<std::collections::HashMap<PathBuf, PathBuf>>;

/// What the workers of a run share: output names claimed, and folders already created (each
/// is created once, not once per file).
#[derive(Default)]
struct Shared {
    claims: Claims,
    folders: Mutex<std::collections::HashSet<PathBuf>>,
}

fn process(
    anon: &Anonymizer,
    src: &Path,
    rel: &Path,
    dst_root: &Path,
    opts: &TreeOptions,
    shared: &Shared,
) -> FileOutcome {
    let mut outcome = FileOutcome {
        source: src.to_path_buf(),
        destination: None,
        status: Status::Done,
        bytes_in: 0,
        bytes_out: 0,
        counts: Counts::default(),
        flags: Vec::new(),
        error_kind: None,
    };
    let result = (|| -> Result<Option<PathBuf>> {
        let mut file = read_path(src)?;
        outcome.bytes_in = file.source_len;
        if is_dicomdir(&file) {
            return Ok(None);
        }
        let done = anon.anonymize(&mut file)?;
        outcome.counts = done.counts;
        outcome.flags = done.flags;
        let dst = match &opts.naming {
            Naming::Mirror => dst_root.join(rel),
            Naming::Template(t) => dst_root.join(fill_template(t, &file)?),
        };
        if let Naming::Template(_) = opts.naming {
            let mut claimed = shared.claims.lock().expect("not poisoned");
            if let Some(other) = claimed.get(&dst) {
                return Err(Error::Path {
                    path: "naming".into(),
                    problem: format!(
                        "its output name {} is already taken by {} (the same instance twice?)",
                        dst.display(),
                        other.display()
                    ),
                });
            }
            claimed.insert(dst.clone(), src.to_path_buf());
        }
        if !opts.dry_run {
            if let Some(parent) = dst.parent() {
                let known = shared
                    .folders
                    .lock()
                    .expect("not poisoned")
                    .contains(parent);
                if !known {
                    std::fs::create_dir_all(parent).map_err(|e| Error::Io {
                        name: parent.display().to_string(),
                        op: "create the folder",
                        source: e,
                    })?;
                    shared
                        .folders
                        .lock()
                        .expect("not poisoned")
                        .insert(parent.to_path_buf());
                }
            }
            outcome.bytes_out = save(&file, &dst)?;
        }
        Ok(Some(dst))
    })();
    if result.is_err() || outcome.bytes_in == 0 {
        // the read failed or stopped early: the size from the file system
        outcome.bytes_in = std::fs::metadata(src).map(|m| m.len()).unwrap_or(0);
    }
    match result {
        Ok(Some(dst)) => outcome.destination = Some(dst),
        Ok(None) => {
            outcome.status = Status::Skipped(
                "DICOMDIR: not rewritten (its records point at the original files)".into(),
            )
        }
        Err(Error::NotDicom { .. }) => outcome.status = Status::Skipped("not DICOM".into()),
        Err(e) => {
            outcome.error_kind = Some(e.kind());
            outcome.status = Status::Refused(e.to_string());
        }
    }
    outcome
}

/// The outcome of a file whose processing panicked: refused, with what the panic said.
fn internal_error(src: &Path, panic: &(dyn std::any::Any + Send)) -> FileOutcome {
    let error = Error::from_panic(&src.display().to_string(), panic);
    FileOutcome {
        source: src.to_path_buf(),
        destination: None,
        error_kind: Some(error.kind()),
        status: Status::Refused(error.to_string()),
        bytes_in: std::fs::metadata(src).map(|m| m.len()).unwrap_or(0),
        bytes_out: 0,
        counts: Counts::default(),
        flags: Vec::new(),
    }
}

/// Is `inner` equal to or below `outer` (after resolving both)?
fn is_within(inner: &Path, outer: &Path) -> bool {
    let canon = |p: &Path| -> PathBuf {
        // the destination may not exist yet: resolve its longest existing ancestor
        let mut existing = p.to_path_buf();
        let mut tail = Vec::new();
        while !existing.exists() {
            match (existing.file_name(), existing.parent()) {
                (Some(name), Some(parent)) => {
                    tail.push(name.to_os_string());
                    existing = parent.to_path_buf();
                }
                _ => break,
            }
        }
        let mut resolved = existing.canonicalize().unwrap_or(existing);
        for part in tail.into_iter().rev() {
            resolved.push(part);
        }
        resolved
    };
    canon(inner).starts_with(canon(outer))
}

/// Anonymize every file under `src` into `dst`.
///
/// `src` may be one file (then `dst` is the output file, or a folder that exists). `dst` equal
/// to `src` means in place; a `dst` inside `src` is refused. `progress` is called from the
/// calling thread about every `tick`, and once at the end; it returns false to cancel.
pub fn anonymize_tree(
    anon: &Anonymizer,
    src: &Path,
    dst: &Path,
    opts: &TreeOptions,
    tick: Duration,
    progress: &mut dyn FnMut(Progress) -> bool,
) -> Result<Report> {
    let started = Instant::now();
    let src_meta = std::fs::metadata(src).map_err(|e| Error::Io {
        name: src.display().to_string(),
        op: "read",
        source: e,
    })?;
    let mut links = Vec::new();
    let mut unreadable = Vec::new();
    let (files, dst_root) = if src_meta.is_file() {
        let (rel, dst_root) = if dst.is_dir() {
            (
                PathBuf::from(src.file_name().unwrap_or_default()),
                dst.to_path_buf(),
            )
        } else {
            (
                PathBuf::from(dst.file_name().unwrap_or_default()),
                dst.parent().map(Path::to_path_buf).unwrap_or_default(),
            )
        };
        let out = dst_root.join(&rel);
        let in_place = is_within(dst, src) && is_within(src, dst);
        if !in_place && is_within(&out, src) && is_within(src, &out) {
            return Err(Error::Path {
                path: "destination".into(),
                problem: format!(
                    "the output would be the source file itself ({}): give the source as \
                     the destination to work in place",
                    out.display()
                ),
            });
        }
        (vec![(src.to_path_buf(), rel)], dst_root)
    } else {
        let in_place = is_within(dst, src) && is_within(src, dst);
        if !in_place && (is_within(dst, src) || is_within(src, dst)) {
            return Err(Error::Path {
                path: "destination".into(),
                problem: if is_within(dst, src) {
                    format!(
                        "{} is inside the source folder {}: choose a destination outside it \
                         (or the source itself, for in place)",
                        dst.display(),
                        src.display()
                    )
                } else {
                    format!(
                        "the source folder {} is inside the destination {}: outputs could \
                         overwrite inputs; choose a destination outside it",
                        src.display(),
                        dst.display()
                    )
                },
            });
        }
        let files = match &opts.only {
            Some(only) => {
                for rel in only {
                    if rel.is_absolute()
                        || rel.components().any(|c| !matches!(c, Component::Normal(_)))
                    {
                        return Err(Error::Path {
                            path: "files".into(),
                            problem: format!(
                                "{} is not a relative path inside the source",
                                rel.display()
                            ),
                        });
                    }
                }
                only.iter()
                    .map(|rel| (src.join(rel), rel.clone()))
                    .collect()
            }
            None => {
                let listing = list_tree(src, opts.recursive)?;
                links = listing.links;
                unreadable = listing.unreadable;
                listing
                    .files
                    .into_iter()
                    .map(|p| {
                        let rel = p.strip_prefix(src).unwrap_or(&p).to_path_buf();
                        (p, rel)
                    })
                    .collect()
            }
        };
        (files, dst.to_path_buf())
    };

    let shared = Shared::default();
    let total = files.len();
    let finished = AtomicUsize::new(0);
    let refused = AtomicUsize::new(0);
    let bytes_in = AtomicU64::new(0);
    let cancel = AtomicBool::new(false);
    let results: Mutex<Vec<(usize, FileOutcome)>> = Mutex::new(Vec::with_capacity(total));
    let pool = thread_pool(opts.workers)?;
    let snapshot = || Progress {
        total,
        finished: finished.load(Ordering::Relaxed),
        refused: refused.load(Ordering::Relaxed),
        bytes_in: bytes_in.load(Ordering::Relaxed),
    };

    std::thread::scope(|scope| {
        let work = scope.spawn(|| {
            pool.install(|| {
                files.par_iter().enumerate().for_each(|(i, (src, rel))| {
                    if cancel.load(Ordering::Relaxed) {
                        return;
                    }
                    // a panic (a bug) costs one file, not the run
                    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        process(anon, src, rel, &dst_root, opts, &shared)
                    }))
                    .unwrap_or_else(|panic| internal_error(src, panic.as_ref()));
                    if matches!(outcome.status, Status::Refused(_)) {
                        refused.fetch_add(1, Ordering::Relaxed);
                        if opts.stop_on_error {
                            cancel.store(true, Ordering::Relaxed);
                        }
                    }
                    bytes_in.fetch_add(outcome.bytes_in, Ordering::Relaxed);
                    results
                        .lock()
                        .expect("no worker panics holding it")
                        .push((i, outcome));
                    finished.fetch_add(1, Ordering::Relaxed);
                })
            })
        });
        let mut last = Instant::now();
        while !work.is_finished() {
            std::thread::sleep(Duration::from_millis(10));
            if last.elapsed() >= tick {
                last = Instant::now();
                if !progress(snapshot()) {
                    cancel.store(true, Ordering::Relaxed);
                }
            }
        }
        if let Err(panic) = work.join() {
            std::panic::resume_unwind(panic);
        }
    });
    progress(snapshot());

    let mut outcomes = results.into_inner().expect("workers are done");
    outcomes.sort_by_key(|(i, _)| *i);
    let stopped = outcomes.len() < total;
    let mut files: Vec<FileOutcome> = outcomes.into_iter().map(|(_, o)| o).collect();
    let entry = |source: PathBuf, status: Status, error_kind: Option<&'static str>| FileOutcome {
        source,
        destination: None,
        status,
        bytes_in: 0,
        bytes_out: 0,
        counts: Counts::default(),
        flags: Vec::new(),
        error_kind,
    };
    let extra = links.len() + unreadable.len();
    files.extend(links.into_iter().map(|link| {
        entry(
            link,
            Status::Skipped("symbolic link: not followed".into()),
            None,
        )
    }));
    files.extend(
        unreadable
            .into_iter()
            .map(|(folder, why)| entry(folder, Status::Refused(why), Some("FileAccessError"))),
    );
    if extra > 0 {
        // in the order of the paths, as the files themselves are (a stable sort: the
        // listing's order is already the paths' order)
        files.sort_by(|a, b| a.source.cmp(&b.source));
    }
    Ok(Report {
        files,
        elapsed: started.elapsed(),
        stopped,
    })
}
