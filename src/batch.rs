//! Batch: a whole tree of files, in parallel on a rayon pool, with a report.
//!
//! Every file is read, decided and written by its own worker with nothing shared but the
//! compiled profile and the key (both immutable). A file that fails is reported and the run
//! goes on; outputs are written atomically, so a failed file leaves nothing behind.

use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::anonymize::{Anonymizer, Counts};
use crate::dest::{Destination, PathKeys};
use crate::error::{Error, Result};
pub use crate::naming::Template;
use crate::read::{is_dicomdir, read_path};
use crate::sink::{Rows, Sink};

/// How output files are named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Naming {
    /// The input's path relative to the source folder.
    Mirror,
    /// A template of `{Keyword}` fields filled from the de-identified dataset (new UIDs),
    /// e.g. `{StudyInstanceUID}/{SeriesInstanceUID}/{SOPInstanceUID}.dcm`.
    Template(Template),
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
    /// The audit log: one JSON line per input, written as the files complete (to a temporary
    /// file renamed when the run ends); checked with the other paths before the run.
    pub audit: Option<PathBuf>,
    /// Take the destination's lock for the run, and remove the temporary files earlier runs
    /// left in the folders written to (see [`crate::dest`]). False only for a part of a larger
    /// run whose caller holds the lock (a batch of a distributed run). A dry run does neither.
    pub lock: bool,
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
            audit: None,
            lock: true,
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
    /// What Clean Pixel Data did (see [`crate::Outcome::pixels`]).
    pub pixels: Option<String>,
    /// Error class for refused files (`InvalidDicomError`, ...), for the Python side.
    pub error_kind: Option<&'static str>,
}

impl FileOutcome {
    /// The outcome of `source` before anything happened to it: done, nothing counted.
    pub fn new(source: PathBuf) -> FileOutcome {
        FileOutcome {
            source,
            destination: None,
            status: Status::Done,
            bytes_in: 0,
            bytes_out: 0,
            counts: Counts::default(),
            flags: Vec::new(),
            pixels: None,
            error_kind: None,
        }
    }
}

/// What a run counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Inputs reported (files, links, folders that could not be listed).
    pub files: usize,
    pub done: usize,
    pub refused: usize,
    pub skipped: usize,
    /// Files with flags (e.g. possible burned-in annotation).
    pub flagged: usize,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// The report of a run. Its memory does not grow with the number of files: every input's
/// row went to the rows (the audit log, or a temporary file) as it completed; the refused
/// files are also kept here.
pub struct Report {
    /// One JSON line per input, in input order (see [`crate::sink::row`]).
    pub rows: Rows,
    /// The refused inputs, in input order.
    pub refused: Vec<FileOutcome>,
    pub totals: Totals,
    /// The whole run, the audit log included.
    pub elapsed: Duration,
    /// True when the run stopped early (stop on error, or cancelled).
    pub stopped: bool,
    /// The audit log could not be written (the run itself went on; the rows are complete).
    pub audit_error: Option<Error>,
    /// Temporary files left by earlier runs, removed from the folders written to.
    pub leftovers_removed: usize,
}

/// Progress, as seen by the callback.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    /// The inputs known: the files given (or the one file) from the start; for a tree, those
    /// listed so far (the tree is listed as the run goes, at most 4096 inputs ahead).
    pub total: usize,
    /// The inputs processed (not those a stop left unprocessed).
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

/// The name of a temporary file of ours (an output or an audit log being written, renamed
/// when complete): `.dicomveil-*.part`. Listings pass over them, and a distributed run removes
/// those a lost worker left behind.
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX)
}

/// How the names of our temporary files begin and end (see [`is_temp_name`]).
pub const TEMP_PREFIX: &str = ".dicomveil-";
/// See [`TEMP_PREFIX`].
pub const TEMP_SUFFIX: &str = ".part";

/// The lock file of a destination, in it while a run writes there (see [`crate::dest`]).
/// Listings pass over it, as over our temporary files.
pub const LOCK_NAME: &str = ".dicomveil.lock";

/// Files under `src`, sorted; our own temporary files and lock files are passed over.
pub fn list_files(src: &Path, recursive: bool) -> Result<Vec<PathBuf>> {
    Ok(list_tree(src, recursive)?.files)
}

/// What a folder holds: regular files, and symbolic links (not followed: a link could lead
/// out of the tree, or to a file twice).
pub struct Listing {
    /// In the engine's order: depth first, the entries of each folder sorted by name (which is
    /// the order of the paths).
    pub files: Vec<PathBuf>,
    /// The size of each file (0 when it cannot be read).
    pub sizes: Vec<u64>,
    pub links: Vec<PathBuf>,
    /// Folders below the top that could not be listed, and why: reported, not fatal.
    pub unreadable: Vec<(PathBuf, String)>,
    /// Temporary files of ours (`.dicomveil-*.part`): left by a killed run, or being written.
    pub leftovers: Vec<PathBuf>,
}

/// One entry of a tree, as the walk meets it.
#[derive(Debug, Clone)]
pub enum Entry {
    /// A regular file and its size (0 when it cannot be read).
    File(PathBuf, u64),
    /// A symbolic link: not followed (it could lead out of the tree, or to a file twice).
    Link(PathBuf),
    /// A folder below the top that could not be listed, and why: reported, not fatal.
    Unreadable(PathBuf, String),
    /// A temporary file of ours (`.dicomveil-*.part`): left by a killed run, or being
    /// written; never an input.
    Leftover(PathBuf),
}

/// The entries under `src` in the engine's order: depth first, the entries of each folder
/// sorted by name (which is the order of the paths). Our temporary files are set apart
/// ([`Entry::Leftover`]) and a destination's lock file ([`LOCK_NAME`]) is passed over.
/// Lazy: a folder is read when the walk reaches it, so memory does not grow with the tree.
/// Only the top folder unreadable is an error.
pub fn walk(src: &Path, recursive: bool) -> impl Iterator<Item = Result<Entry>> + '_ {
    walkdir::WalkDir::new(src)
        .max_depth(if recursive { usize::MAX } else { 1 })
        .sort_by_file_name()
        .into_iter()
        .filter_map(move |entry| match entry {
            Ok(entry) => {
                if entry.file_type().is_file() {
                    let name = entry.file_name().to_string_lossy();
                    if is_temp_name(&name) {
                        return Some(Ok(Entry::Leftover(entry.into_path())));
                    }
                    if name == LOCK_NAME {
                        return None;
                    }
                    // gone or unreadable since: 0, and the run reports the file
                    let size = entry.metadata().map_or(0, |m| m.len());
                    Some(Ok(Entry::File(entry.into_path(), size)))
                } else if entry.path_is_symlink() && entry.depth() > 0 {
                    Some(Ok(Entry::Link(entry.into_path())))
                } else {
                    None
                }
            }
            // a folder below the top that cannot be listed: the rest of the tree goes on
            Err(e) if e.depth() > 0 && e.path().is_some() => {
                let path = e.path().map(Path::to_path_buf).unwrap_or_default();
                let why = e
                    .io_error()
                    .map_or_else(|| "a loop of links".to_string(), |io| io.to_string());
                Some(Ok(Entry::Unreadable(
                    path,
                    format!("cannot list the folder: {why}"),
                )))
            }
            Err(e) => Some(Err(Error::Io {
                name: e
                    .path()
                    .map_or_else(|| src.display().to_string(), |p| p.display().to_string()),
                op: "list",
                source: e
                    .into_io_error()
                    .unwrap_or_else(|| std::io::Error::other("loop")),
            })),
        })
}

/// Files and links under `src`, sorted (the [`walk`], collected).
pub fn list_tree(src: &Path, recursive: bool) -> Result<Listing> {
    let mut listing = Listing {
        files: Vec::new(),
        sizes: Vec::new(),
        links: Vec::new(),
        unreadable: Vec::new(),
        leftovers: Vec::new(),
    };
    for entry in walk(src, recursive) {
        match entry? {
            Entry::File(path, size) => {
                listing.files.push(path);
                listing.sizes.push(size);
            }
            Entry::Link(path) => listing.links.push(path),
            Entry::Unreadable(path, why) => listing.unreadable.push((path, why)),
            Entry::Leftover(path) => listing.leftovers.push(path),
        }
    }
    Ok(listing)
}

/// A line of a report for what a listing set apart: a symbolic link (skipped, not followed)
/// or a folder that could not be listed (refused).
#[derive(Debug, Clone)]
pub struct Apart {
    pub source: PathBuf,
    pub status: Status,
    pub error_kind: Option<&'static str>,
}

impl Apart {
    /// A symbolic link: skipped, not followed.
    pub fn link(source: PathBuf) -> Apart {
        Apart {
            source,
            status: Status::Skipped("symbolic link: not followed".into()),
            error_kind: None,
        }
    }

    /// A folder that could not be listed: refused.
    pub fn unreadable(source: PathBuf, why: String) -> Apart {
        Apart {
            source,
            status: Status::Refused(why),
            error_kind: Some("FileAccessError"),
        }
    }

    /// Its line of a report.
    pub fn outcome(self) -> FileOutcome {
        FileOutcome {
            status: self.status,
            error_kind: self.error_kind,
            ..FileOutcome::new(self.source)
        }
    }
}

/// What a listing set apart, as report lines in the paths' order.
pub fn set_apart(links: Vec<PathBuf>, unreadable: Vec<(PathBuf, String)>) -> Vec<Apart> {
    let mut apart: Vec<Apart> = links
        .into_iter()
        .map(Apart::link)
        .chain(
            unreadable
                .into_iter()
                .map(|(source, why)| Apart::unreadable(source, why)),
        )
        .collect();
    apart.sort_by(|a, b| a.source.cmp(&b.source));
    apart
}

/// Where the lines set apart go among the files of a run, given the files' sources in input
/// order (the listing's order, which is the paths' order): for each line, the number of files
/// before it, so that the report lists every path in the paths' order.
pub fn merge_positions<P: AsRef<Path>>(sources: &[P], apart: &[Apart]) -> Vec<usize> {
    let mut before = 0;
    apart
        .iter()
        .map(|line| {
            while before < sources.len() && sources[before].as_ref() < line.source.as_path() {
                before += 1;
            }
            before
        })
        .collect()
}

/// The files of a run (in input order) with the lines set apart among them, in the paths'
/// order (by [`merge_positions`]).
pub fn merge_report(files: Vec<FileOutcome>, apart: Vec<Apart>) -> Vec<FileOutcome> {
    if apart.is_empty() {
        return files;
    }
    let sources: Vec<&Path> = files.iter().map(|f| f.source.as_path()).collect();
    let positions = merge_positions(&sources, &apart);
    let mut merged = Vec::with_capacity(files.len() + apart.len());
    let mut files = files.into_iter();
    let mut taken = 0;
    for (line, at) in apart.into_iter().zip(positions) {
        merged.extend(files.by_ref().take(at - taken));
        taken = at;
        merged.push(line.outcome());
    }
    merged.extend(files);
    merged
}

/// The refusal of a file whose output name (from a naming template) an earlier input took.
pub fn name_taken(output: &Path, first: &Path) -> Error {
    Error::Path {
        path: "naming".into(),
        problem: format!(
            "its output name {} is already taken by {} (the same instance twice?)",
            output.display(),
            first.display()
        ),
    }
}

/// The rule of output names made by a naming template: of the inputs given the same output,
/// the first in input order keeps it and every other is refused ([`name_taken`]). `outputs`
/// are the files' outputs in input order (None for a file not written); returns each refused
/// file's index with the index of the file that keeps its name.
///
/// A local run applies it as files claim their names, in the order they finish (input order
/// with one worker); a distributed run applies it to the merged report.
pub fn name_collisions<P: AsRef<Path>>(outputs: &[Option<P>]) -> Vec<(usize, usize)> {
    let mut owner: std::collections::HashMap<&Path, usize> = std::collections::HashMap::new();
    let mut refused = Vec::new();
    for (i, output) in outputs.iter().enumerate() {
        if let Some(output) = output {
            let first = *owner.entry(output.as_ref()).or_insert(i);
            if first != i {
                refused.push((i, first));
            }
        }
    }
    refused
}

/// Output names claimed so far in a run with a naming template, so that two inputs never
/// write the same output: the key of each output path ([`PathKeys`]) with the source that
/// claimed it. What such a run keeps per file (about 100 bytes; a path would take more than
/// twice that).
#[derive(Default)]
struct Claims {
    keys: PathKeys,
    claimed: Mutex<std::collections::HashMap<u128, Box<Path>>>,
}

/// What the workers of a run share: output names claimed, and the destination (None in a dry
/// run).
struct Shared {
    claims: Claims,
    destination: Option<Destination>,
}

/// Anonymize one file to `dst` (or, with `naming`, below `dst_root`). Returns the outcome.
fn process(
    anon: &Anonymizer,
    src: &Path,
    rel: &Path,
    dst_root: &Path,
    opts: &TreeOptions,
    shared: &Shared,
) -> FileOutcome {
    let mut outcome = FileOutcome::new(src.to_path_buf());
    let result = (|| -> Result<Option<PathBuf>> {
        let mut file = read_path(src)?;
        outcome.bytes_in = file.source_len;
        if is_dicomdir(&file) {
            return Ok(None);
        }
        let done = anon.anonymize(&mut file)?;
        outcome.counts = done.counts;
        outcome.flags = done.flags;
        outcome.pixels = done.pixels;
        let output = match &opts.naming {
            Naming::Mirror => rel.to_path_buf(),
            Naming::Template(t) => t.fill(&file)?,
        };
        let dst = dst_root.join(&output);
        if let Naming::Template(_) = opts.naming {
            let key = shared.claims.keys.key(&dst);
            let mut claimed = shared.claims.claimed.lock().expect("not poisoned");
            if let Some(first) = claimed.get(&key) {
                return Err(name_taken(&dst, first));
            }
            claimed.insert(key, src.into());
        }
        if let Some(destination) = &shared.destination {
            outcome.bytes_out = destination.save(&file, &output)?;
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

/// The line of an input given a second time (in the files of a run): it is processed once,
/// at its first mention (twice, in place, it would be de-identified again).
fn given_twice(source: PathBuf) -> FileOutcome {
    FileOutcome {
        status: Status::Skipped("given twice: processed once, at its first mention".into()),
        ..FileOutcome::new(source)
    }
}

/// The outcome of a file whose processing panicked: refused, with what the panic said.
fn internal_error(src: &Path, panic: &(dyn std::any::Any + Send)) -> FileOutcome {
    let error = Error::from_panic(&src.display().to_string(), panic);
    FileOutcome {
        error_kind: Some(error.kind()),
        status: Status::Refused(error.to_string()),
        bytes_in: std::fs::metadata(src).map(|m| m.len()).unwrap_or(0),
        ..FileOutcome::new(src.to_path_buf())
    }
}

/// A path made absolute, with links resolved as far as it exists and `.` and `..` parts
/// applied (as `os.path.realpath`): two paths naming the same file resolve alike.
fn resolve(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    // the part resolved so far exists: resolve each next part by the file system
    let mut exists = true;
    for part in absolute.components() {
        match part {
            Component::CurDir => continue,
            Component::ParentDir if !exists => {
                out.pop();
                exists = true; // back in what was resolved
                continue;
            }
            _ => out.push(part),
        }
        if exists {
            match out.canonicalize() {
                Ok(resolved) => out = resolved,
                Err(_) => exists = false,
            }
        }
    }
    out
}

/// Does `path` end with a separator (`out/`: the caller means a folder)?
fn ends_with_separator(path: &Path) -> bool {
    path.as_os_str()
        .as_encoded_bytes()
        .last()
        .is_some_and(|&b| std::path::is_separator(b as char))
}

/// What is wrong with the paths of a run, as [`check_paths`] finds it: a stable code for
/// callers that word a refusal their own way (the command line names SRC and DST).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathProblem {
    /// The source cannot be read.
    SourceMissing,
    /// The destination is the source, and the run may not work in place.
    DestinationIsSource,
    DestinationInsideSource,
    SourceInsideDestination,
    /// The destination is an existing file where a folder is needed.
    DestinationNotAFolder,
    /// The destination of a one-file run names no file (`dir/..`).
    DestinationUnnamed,
    /// The output of a one-file run would be its source, not in place.
    OutputIsSource,
    /// The audit log path is a folder (or the destination folder of the run).
    AuditIsFolder,
    AuditFolderMissing,
    /// The audit log would be the source file.
    AuditOverSource,
    /// The audit log would be inside the source folder (not in place).
    AuditInsideSource,
    /// The audit log would replace a file of the source folder (in place).
    AuditOverInput,
    /// The audit log would be the output of a one-file run.
    AuditOverOutput,
}

impl PathProblem {
    /// The code: `destination-inside-source`, ...
    pub fn code(self) -> &'static str {
        match self {
            PathProblem::SourceMissing => "source-missing",
            PathProblem::DestinationIsSource => "destination-is-source",
            PathProblem::DestinationInsideSource => "destination-inside-source",
            PathProblem::SourceInsideDestination => "source-inside-destination",
            PathProblem::DestinationNotAFolder => "destination-not-a-folder",
            PathProblem::DestinationUnnamed => "destination-unnamed",
            PathProblem::OutputIsSource => "output-is-source",
            PathProblem::AuditIsFolder => "audit-is-folder",
            PathProblem::AuditFolderMissing => "audit-folder-missing",
            PathProblem::AuditOverSource => "audit-over-source",
            PathProblem::AuditInsideSource => "audit-inside-source",
            PathProblem::AuditOverInput => "audit-over-input",
            PathProblem::AuditOverOutput => "audit-over-output",
        }
    }
}

/// A refusal of [`check_paths`]: what is wrong, and the error that says it (a path error,
/// or the source's I/O error).
#[derive(Debug)]
pub struct PathRefusal {
    pub problem: PathProblem,
    pub error: Error,
}

impl From<PathRefusal> for Error {
    fn from(refusal: PathRefusal) -> Error {
        refusal.error
    }
}

/// Where a run writes, as [`check_paths`] planned it (only it makes one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    src: PathBuf,
    dst_root: PathBuf,
    single: Option<PathBuf>,
    output: Option<PathBuf>,
    in_place: bool,
    naming: bool,
}

impl Plan {
    /// The source, as given.
    pub fn src(&self) -> &Path {
        &self.src
    }

    /// The folder the outputs are written below.
    pub fn dst_root(&self) -> &Path {
        &self.dst_root
    }

    /// True when the source is a folder (not one file).
    pub fn is_folder(&self) -> bool {
        self.single.is_none()
    }

    /// The output file of a one-file run without a naming template.
    pub fn output(&self) -> Option<&Path> {
        self.output.as_deref()
    }

    /// The destination is the source: every output replaces its input.
    pub fn in_place(&self) -> bool {
        self.in_place
    }
}

/// Check the paths of a run before any file is touched, and plan where it writes.
///
/// - `src` must exist. With `dst` equal to `src` the run is in place, refused unless
///   `in_place_allowed`.
/// - A folder `src`: `dst` is a folder (an existing file is refused), neither inside `src`
///   nor containing it (unless in place).
/// - A one-file `src`: `dst` is a folder when it is one, ends with a separator, or `naming`
///   (a template names the output); the output is then `dst/<name of src>`. Otherwise `dst`
///   is the output file. An output that would be `src` itself is refused (unless in place).
/// - `audit`, where the caller will write the audit log: not a folder, in a folder that
///   exists, not `src`, not inside a folder `src` (in place: not over one of its files), not
///   the output of a one-file run.
pub fn check_paths(
    src: &Path,
    dst: &Path,
    audit: Option<&Path>,
    in_place_allowed: bool,
    naming: bool,
) -> std::result::Result<Plan, PathRefusal> {
    let refuse = |problem: PathProblem, path: &Path, text: String| PathRefusal {
        problem,
        error: Error::Path {
            path: path.display().to_string(),
            problem: text,
        },
    };
    let src_meta = std::fs::metadata(src).map_err(|e| PathRefusal {
        problem: PathProblem::SourceMissing,
        error: Error::Io {
            name: src.display().to_string(),
            op: "read",
            source: e,
        },
    })?;
    let (src_r, dst_r) = (resolve(src), resolve(dst));
    let in_place = src_r == dst_r;
    // an existing file given as a folder (`file/`: the system says neither file nor folder)
    let is_file = |path: &Path| {
        let bare: PathBuf = path.components().collect();
        bare.exists() && !bare.is_dir()
    };
    if in_place && !in_place_allowed {
        return Err(refuse(
            PathProblem::DestinationIsSource,
            dst,
            "the destination is the source, and this run cannot work in place: write to \
             another destination"
                .into(),
        ));
    }
    // the messages of the destination's problems name both paths
    let destination = |problem: PathProblem, text: String| PathRefusal {
        problem,
        error: Error::Path {
            path: "destination".into(),
            problem: text,
        },
    };
    let plan = if src_meta.is_dir() {
        if !in_place && dst_r.starts_with(&src_r) {
            return Err(destination(
                PathProblem::DestinationInsideSource,
                format!(
                    "{} is inside the source folder {}: choose a destination outside it (or \
                     the source itself, for in place)",
                    dst.display(),
                    src.display()
                ),
            ));
        }
        if !in_place && src_r.starts_with(&dst_r) {
            return Err(destination(
                PathProblem::SourceInsideDestination,
                format!(
                    "the source folder {} is inside the destination {}: outputs could \
                     overwrite inputs; choose a destination outside it",
                    src.display(),
                    dst.display()
                ),
            ));
        }
        if is_file(dst) {
            return Err(refuse(
                PathProblem::DestinationNotAFolder,
                dst,
                "the source is a folder, and this is a file: give a folder".into(),
            ));
        }
        Plan {
            src: src.to_path_buf(),
            dst_root: dst.to_path_buf(),
            single: None,
            output: None,
            in_place,
            naming,
        }
    } else {
        let name = PathBuf::from(src.file_name().unwrap_or_default());
        let (dst_root, rel) = if dst.is_dir() || ends_with_separator(dst) || naming {
            if is_file(dst) {
                return Err(refuse(
                    PathProblem::DestinationNotAFolder,
                    dst,
                    "it is a file, not a folder".into(),
                ));
            }
            (dst.to_path_buf(), name)
        } else {
            let Some(file_name) = dst.file_name() else {
                return Err(refuse(
                    PathProblem::DestinationUnnamed,
                    dst,
                    "it names no file: give the output file, or a folder".into(),
                ));
            };
            (
                dst.parent().map(Path::to_path_buf).unwrap_or_default(),
                PathBuf::from(file_name),
            )
        };
        let out = dst_root.join(&rel);
        if !in_place && !naming && resolve(&out) == src_r {
            return Err(destination(
                PathProblem::OutputIsSource,
                format!(
                    "the output would be the source file itself ({}): give the source as the \
                     destination to work in place",
                    out.display()
                ),
            ));
        }
        Plan {
            src: src.to_path_buf(),
            dst_root,
            single: Some(rel),
            output: (!naming).then_some(out),
            in_place,
            naming,
        }
    };
    if let Some(audit) = audit {
        let refuse_audit = |problem: PathProblem, text: &str| refuse(problem, audit, text.into());
        let audit_r = resolve(audit);
        if audit.is_dir() || (plan.single.is_none() && audit_r == dst_r) {
            return Err(refuse_audit(
                PathProblem::AuditIsFolder,
                "the audit log path is a folder",
            ));
        }
        if !audit_r.parent().is_some_and(Path::is_dir) {
            return Err(refuse_audit(
                PathProblem::AuditFolderMissing,
                "the folder of the audit log does not exist",
            ));
        }
        if audit_r == src_r {
            return Err(refuse_audit(
                PathProblem::AuditOverSource,
                "the audit log would overwrite the input",
            ));
        }
        if plan.single.is_none() && audit_r.starts_with(&src_r) {
            if !in_place {
                return Err(refuse_audit(
                    PathProblem::AuditInsideSource,
                    "the audit log would be written into the input folder",
                ));
            }
            if audit_r.symlink_metadata().is_ok() {
                return Err(refuse_audit(
                    PathProblem::AuditOverInput,
                    "the audit log would overwrite a file of the input",
                ));
            }
        }
        if plan
            .output
            .as_deref()
            .is_some_and(|out| resolve(out) == audit_r)
        {
            return Err(refuse_audit(
                PathProblem::AuditOverOutput,
                "the audit log would overwrite the output",
            ));
        }
    }
    Ok(plan)
}

/// How long a one-file run waits for the lock of its output's folder.
const ONE_FILE_WAIT: Duration = Duration::from_secs(10);

/// Anonymize every file under `src` into `dst`.
///
/// The paths are checked first ([`check_paths`], in place allowed, with the audit log's path
/// of the options): `src` may be one file (then `dst` is the output file, or a folder), `dst`
/// equal to `src` means in place, a `dst` inside `src` is refused. `progress` is called from
/// the calling thread about every `tick`, and once at the end; it returns false to cancel.
///
/// Unless `opts.lock` is false or the run is dry, the run holds the lock of the folder it
/// writes below (DST, SRC in place, the output's folder for one file) from start to end, and
/// another run is refused meanwhile ([`Error::Busy`]); outputs are written only inside it, no
/// symbolic link followed ([`crate::dest`]).
pub fn anonymize_tree(
    anon: &Anonymizer,
    src: &Path,
    dst: &Path,
    opts: &TreeOptions,
    tick: Duration,
    progress: &mut dyn FnMut(Progress) -> bool,
) -> Result<Report> {
    let naming = matches!(opts.naming, Naming::Template(_));
    let plan = check_paths(src, dst, opts.audit.as_deref(), true, naming)?;
    anonymize_planned(anon, &plan, opts, tick, progress)
}

/// [`anonymize_tree`] on paths already checked: `plan` comes from [`check_paths`] (with a
/// naming template or not, as `opts` has one; its audit log path is not looked at again).
pub fn anonymize_planned(
    anon: &Anonymizer,
    plan: &Plan,
    opts: &TreeOptions,
    tick: Duration,
    progress: &mut dyn FnMut(Progress) -> bool,
) -> Result<Report> {
    let started = Instant::now();
    let src = plan.src();
    if plan.naming != matches!(opts.naming, Naming::Template(_)) {
        return Err(Error::Path {
            path: src.display().to_string(),
            problem: "its paths were checked for another naming (with a template or without)"
                .into(),
        });
    }
    if let Some(only) = &opts.only {
        for rel in only {
            if rel.is_absolute() || rel.components().any(|c| !matches!(c, Component::Normal(_))) {
                return Err(Error::Path {
                    path: "files".into(),
                    problem: format!("{} is not a relative path inside the source", rel.display()),
                });
            }
        }
    }
    // the audit log's folder must be writable: found before anything is created
    let audit_sink = match &opts.audit {
        Some(audit) => Some(Sink::open(Some(audit), None)?),
        None => None,
    };
    // held by this run alone, and written only inside; a one-file run waits a little for
    // another's lock (parallel one-file runs into one folder each hold it briefly)
    let wait = if plan.is_folder() {
        Duration::ZERO
    } else {
        ONE_FILE_WAIT
    };
    let destination = match opts.dry_run {
        true => None,
        false => Some(Destination::open(
            plan.dst_root(),
            opts.lock.then_some(wait),
        )?),
    };
    let dst_root = plan.dst_root();
    // the rows go to the audit log, or to a temporary file in the destination
    let mut sink = match audit_sink {
        Some(sink) => sink,
        None => Sink::open(None, Some(dst_root))?,
    };
    let pool = thread_pool(opts.workers)?;
    let threads = pool.current_num_threads();

    // the inputs, in order: one file, the files given, or the tree walked as the run goes
    let entries: Box<dyn Iterator<Item = Result<Entry>> + Send + '_> =
        match (&plan.single, &opts.only) {
            (Some(_), _) => Box::new(std::iter::once(Ok(Entry::File(src.to_path_buf(), 0)))),
            (None, Some(only)) => {
                Box::new(only.iter().map(|rel| Ok(Entry::File(src.join(rel), 0))))
            }
            (None, None) => Box::new(walk(src, opts.recursive)),
        };
    let relative = |path: &Path| -> PathBuf {
        match &plan.single {
            Some(rel) => rel.clone(),
            None => path.strip_prefix(src).unwrap_or(path).to_path_buf(),
        }
    };

    let shared = Shared {
        claims: Claims::default(),
        destination,
    };
    let listed = AtomicUsize::new(0);
    let listing_done = AtomicBool::new(false);
    let cancel = AtomicBool::new(false);
    // how far the rows are written: the walk keeps at most WINDOW inputs ahead of it, so
    // memory is bounded however slow one file is
    let written = (Mutex::new(0usize), std::sync::Condvar::new());
    let queue = Queue::default();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<(usize, Option<FileOutcome>)>();
    let mut totals = Totals::default();
    let mut refused_files = Vec::new();
    let mut unprocessed = 0usize;
    let mut walk_error = None;
    // stop the run: the walk hands out no more inputs, the workers take no more files; the
    // walk is woken if it waits for the window (notified under its lock: never missed)
    let stop = || {
        cancel.store(true, Ordering::Relaxed);
        let _at = written.0.lock().expect("not poisoned");
        written.1.notify_all();
    };

    std::thread::scope(|scope| {
        // the walk: numbers the inputs and hands the files to the workers
        let producer = {
            let done_tx = done_tx.clone();
            let (listed, cancel, written, listing_done, queue) =
                (&listed, &cancel, &written, &listing_done, &queue);
            scope.spawn(move || -> Result<()> {
                let mut seq = 0usize;
                // the files given (a list may name one twice): each is processed once
                let mut given = opts
                    .only
                    .as_ref()
                    .map(|only| std::collections::HashSet::with_capacity(only.len()));
                // the listing is over only when the entries are: a stop leaves it unfinished
                let mut over = false;
                let result = (|| {
                    let mut entries = entries;
                    loop {
                        let Some(entry) = entries.next() else {
                            over = true;
                            break;
                        };
                        let entry = entry?;
                        if let Entry::Leftover(_) = entry {
                            // not an input: the destination removes those in its folders
                            continue;
                        }
                        {
                            let (lock, ready) = written;
                            let mut at = lock.lock().expect("not poisoned");
                            while seq >= *at + WINDOW && !cancel.load(Ordering::Relaxed) {
                                at = ready.wait(at).expect("not poisoned");
                            }
                        }
                        // an input not handed out: the run stopped before it
                        if cancel.load(Ordering::Relaxed) {
                            break;
                        }
                        let line = match entry {
                            Entry::File(path, _) => {
                                let again = given.as_mut().is_some_and(|given| {
                                    !given.insert(path.components().collect::<PathBuf>())
                                });
                                if again {
                                    Some(given_twice(path))
                                } else {
                                    queue.push((seq, path));
                                    None
                                }
                            }
                            Entry::Link(path) => Some(Apart::link(path).outcome()),
                            Entry::Unreadable(path, why) => {
                                Some(Apart::unreadable(path, why).outcome())
                            }
                            Entry::Leftover(_) => continue,
                        };
                        if let Some(line) = line {
                            let _ = done_tx.send((seq, Some(line)));
                        }
                        seq += 1;
                        listed.store(seq, Ordering::Relaxed);
                    }
                    Ok(())
                })();
                listing_done.store(over, Ordering::Relaxed);
                queue.close();
                result
            })
        };
        // the workers, on the pool
        {
            let done_tx = done_tx.clone();
            let (queue, cancel, shared) = (&queue, &cancel, &shared);
            let (relative, stop) = (&relative, &stop);
            scope.spawn(move || {
                pool.scope(|s| {
                    for _ in 0..threads {
                        let done_tx = done_tx.clone();
                        s.spawn(move |_| {
                            while let Some((seq, path)) = queue.pop() {
                                if cancel.load(Ordering::Relaxed) {
                                    let _ = done_tx.send((seq, None));
                                    continue;
                                }
                                let rel = relative(&path);
                                // a panic (a bug) costs one file, not the run
                                let outcome =
                                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                        process(anon, &path, &rel, dst_root, opts, shared)
                                    }))
                                    .unwrap_or_else(|panic| internal_error(&path, panic.as_ref()));
                                // stop at the first refusal, not when its row is written
                                // (which may wait for a slow file before it)
                                if opts.stop_on_error
                                    && matches!(outcome.status, Status::Refused(_))
                                {
                                    stop();
                                }
                                let _ = done_tx.send((seq, Some(outcome)));
                            }
                        });
                    }
                });
            });
        }
        drop(done_tx);

        // the rows, in input order, as the files complete
        let mut pending: std::collections::BTreeMap<usize, Option<FileOutcome>> =
            std::collections::BTreeMap::new();
        let mut next = 0usize;
        let mut last = Instant::now();
        // finished: the inputs processed (not those a stop left unprocessed); total: the
        // inputs known, all at once for the files given (or one), as listed for a tree
        let given = match (&plan.single, &opts.only) {
            (Some(_), _) => 1,
            (None, Some(only)) => only.len(),
            (None, None) => 0,
        };
        let snapshot = |totals: &Totals, next: usize| Progress {
            total: listed.load(Ordering::Relaxed).max(next).max(given),
            finished: totals.files,
            refused: totals.refused,
            bytes_in: totals.bytes_in,
        };
        loop {
            let wait = tick.saturating_sub(last.elapsed());
            match done_rx.recv_timeout(wait) {
                Ok((seq, outcome)) => {
                    pending.insert(seq, outcome);
                    let before = next;
                    while let Some(outcome) = pending.remove(&next) {
                        next += 1;
                        let Some(outcome) = outcome else {
                            unprocessed += 1;
                            continue;
                        };
                        totals.files += 1;
                        totals.bytes_in += outcome.bytes_in;
                        totals.bytes_out += outcome.bytes_out;
                        if !outcome.flags.is_empty() {
                            totals.flagged += 1;
                        }
                        sink.push(&outcome);
                        match outcome.status {
                            Status::Done => totals.done += 1,
                            Status::Skipped(_) => totals.skipped += 1,
                            Status::Refused(_) => {
                                totals.refused += 1;
                                if opts.stop_on_error {
                                    stop();
                                }
                                refused_files.push(outcome);
                            }
                        }
                    }
                    if next != before {
                        let (lock, ready) = &written;
                        *lock.lock().expect("not poisoned") = next;
                        ready.notify_all();
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
            if last.elapsed() >= tick {
                last = Instant::now();
                if !progress(snapshot(&totals, next)) {
                    stop();
                }
            }
        }
        // a cancelled walk may leave numbers never handed out: they are not in the report
        match producer.join() {
            Ok(result) => walk_error = result.err(),
            Err(panic) => std::panic::resume_unwind(panic),
        }
        progress(snapshot(&totals, next));
    });
    if let Some(e) = walk_error {
        return Err(e);
    }
    let listed = listed.into_inner();
    let (rows, audit_error) = sink.finish();
    let leftovers_removed = shared
        .destination
        .as_ref()
        .map_or(0, Destination::leftovers_removed);
    Ok(Report {
        rows,
        refused: refused_files,
        totals,
        elapsed: started.elapsed(),
        // some inputs were listed and not processed, or never listed
        stopped: unprocessed > 0 || totals.files < listed || !listing_done.into_inner(),
        audit_error,
        leftovers_removed,
    })
}

/// How many inputs the walk may be ahead of the rows written: what bounds a run's memory.
const WINDOW: usize = 4096;

/// The files listed and not yet taken by a worker, in input order.
#[derive(Default)]
struct Queue {
    /// The files, and whether the listing is over.
    items: Mutex<(std::collections::VecDeque<(usize, PathBuf)>, bool)>,
    ready: std::sync::Condvar,
}

impl Queue {
    fn push(&self, item: (usize, PathBuf)) {
        self.items.lock().expect("not poisoned").0.push_back(item);
        self.ready.notify_one();
    }

    /// No more files will come.
    fn close(&self) {
        self.items.lock().expect("not poisoned").1 = true;
        self.ready.notify_all();
    }

    /// The next file, waiting for one; None when the listing is over and all are taken.
    fn pop(&self) -> Option<(usize, PathBuf)> {
        let mut items = self.items.lock().expect("not poisoned");
        loop {
            if let Some(item) = items.0.pop_front() {
                return Some(item);
            }
            if items.1 {
                return None;
            }
            items = self.ready.wait(items).expect("not poisoned");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(r: std::result::Result<Plan, PathRefusal>) -> PathProblem {
        match r {
            Ok(plan) => panic!("accepted: {plan:?}"),
            Err(refusal) => refusal.problem,
        }
    }

    /// A folder `src` with `a.dcm` and `sub/b.dcm`, an empty folder `out`, a file `one.dcm`.
    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("src/sub")).unwrap();
        std::fs::create_dir(root.join("out")).unwrap();
        std::fs::write(root.join("src/a.dcm"), b"a").unwrap();
        std::fs::write(root.join("src/sub/b.dcm"), b"bb").unwrap();
        std::fs::write(root.join("one.dcm"), b"1").unwrap();
        dir
    }

    #[test]
    fn paths_of_a_folder_run() {
        let dir = tree();
        let (src, root) = (dir.path().join("src"), dir.path());
        let check =
            |dst: &Path, in_place_allowed| check_paths(&src, dst, None, in_place_allowed, false);
        let plan = check(&root.join("out"), false).unwrap();
        assert!(plan.is_folder() && !plan.in_place() && plan.output().is_none());
        assert_eq!(plan.dst_root(), root.join("out"));
        // a destination not there yet, named with `.` and `..` parts
        assert!(check(&root.join("src/../new/./x"), false).is_ok());
        assert!(check(&src, true).unwrap().in_place());
        assert!(check(&root.join("out/../src/"), true).unwrap().in_place());
        assert_eq!(
            problem(check(&src, false)),
            PathProblem::DestinationIsSource
        );
        assert_eq!(
            problem(check(&src.join("sub/new"), true)),
            PathProblem::DestinationInsideSource
        );
        assert_eq!(
            problem(check(root, true)),
            PathProblem::SourceInsideDestination
        );
        assert_eq!(
            problem(check(&root.join("one.dcm"), true)),
            PathProblem::DestinationNotAFolder
        );
        assert_eq!(
            problem(check_paths(&root.join("missing"), root, None, true, false)),
            PathProblem::SourceMissing
        );
        // the messages name the paths
        let refusal = check_paths(&src, &src.join("x"), None, true, false).unwrap_err();
        let message = Error::from(refusal).to_string();
        assert!(message.contains("is inside the source folder"), "{message}");
        assert!(
            message.contains(&src.join("x").display().to_string()),
            "{message}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn links_are_resolved() {
        let dir = tree();
        let root = dir.path();
        std::os::unix::fs::symlink(root.join("src"), root.join("alias")).unwrap();
        let plan = check_paths(&root.join("src"), &root.join("alias"), None, true, false);
        assert!(plan.unwrap().in_place());
        assert_eq!(
            problem(check_paths(
                &root.join("src"),
                &root.join("alias/sub/x"),
                None,
                true,
                false
            )),
            PathProblem::DestinationInsideSource
        );
    }

    #[test]
    fn paths_of_a_one_file_run() {
        let dir = tree();
        let root = dir.path();
        let one = root.join("one.dcm");
        let check = |dst: &Path, naming| check_paths(&one, dst, None, true, naming);
        // a file
        let plan = check(&root.join("out/x.dcm"), false).unwrap();
        assert!(!plan.is_folder());
        assert_eq!(plan.output(), Some(root.join("out/x.dcm").as_path()));
        // a folder: existing, ending with a separator, or with a template
        let out = root.join("out");
        assert_eq!(
            check(&out, false).unwrap().output(),
            Some(out.join("one.dcm").as_path())
        );
        let mut slash = root.join("new").into_os_string();
        slash.push(std::path::MAIN_SEPARATOR_STR);
        let slash = PathBuf::from(slash);
        assert_eq!(
            check(&slash, false).unwrap().output(),
            Some(slash.join("one.dcm").as_path())
        );
        let named = check(&root.join("named"), true).unwrap();
        assert_eq!(named.dst_root(), root.join("named"));
        assert_eq!(named.output(), None);
        // in place, and the output would be the source without it
        assert!(check(&one, false).unwrap().in_place());
        assert_eq!(problem(check(root, false)), PathProblem::OutputIsSource);
        assert_eq!(
            problem(check_paths(&one, &one, None, false, false)),
            PathProblem::DestinationIsSource
        );
        assert_eq!(
            problem(check(&root.join("src/a.dcm/"), false)),
            PathProblem::DestinationNotAFolder
        );
    }

    #[test]
    fn audit_log_paths() {
        let dir = tree();
        let root = dir.path();
        let (src, out) = (root.join("src"), root.join("out"));
        let audit = |src: &Path, dst: &Path, audit: &Path| {
            check_paths(src, dst, Some(audit), true, false).map(drop)
        };
        assert!(audit(&src, &out, &root.join("audit.jsonl")).is_ok());
        assert!(audit(&src, &out, &out.join("audit.jsonl")).is_ok());
        let refused = |src: &Path, dst: &Path, path: &Path| {
            problem(check_paths(src, dst, Some(path), true, false))
        };
        assert_eq!(refused(&src, &out, root), PathProblem::AuditIsFolder);
        assert_eq!(
            refused(&src, &root.join("new"), &root.join("new")),
            PathProblem::AuditIsFolder
        );
        assert_eq!(
            refused(&src, &out, &root.join("no/such/audit.jsonl")),
            PathProblem::AuditFolderMissing
        );
        assert_eq!(
            refused(&src, &out, &src.join("audit.jsonl")),
            PathProblem::AuditInsideSource
        );
        assert_eq!(
            refused(&src, &out, &root.join("src/sub/../audit.jsonl")),
            PathProblem::AuditInsideSource
        );
        // in place: into the source, but not over one of its files
        assert!(audit(&src, &src, &src.join("audit.jsonl")).is_ok());
        assert_eq!(
            refused(&src, &src, &src.join("a.dcm")),
            PathProblem::AuditOverInput
        );
        // a one-file run: not over its input, nor its output
        let one = root.join("one.dcm");
        assert_eq!(refused(&one, &out, &one), PathProblem::AuditOverSource);
        assert_eq!(
            refused(&one, &out, &out.join("one.dcm")),
            PathProblem::AuditOverOutput
        );
        assert_eq!(
            refused(&one, &root.join("x.dcm"), &root.join("x.dcm")),
            PathProblem::AuditOverOutput
        );
        let refusal = check_paths(&one, &out, Some(&one), true, false).unwrap_err();
        assert_eq!(
            Error::from(refusal).to_string(),
            format!("{}: the audit log would overwrite the input", one.display())
        );
    }

    #[test]
    fn listing_with_sizes_links_leftovers_and_no_lock_file() {
        let dir = tree();
        let src = dir.path().join("src");
        std::fs::write(src.join(".dicomveil-x1.part"), b"partial").unwrap();
        std::fs::write(src.join("sub").join(LOCK_NAME), b"pid=1\n").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(src.join("a.dcm"), src.join("link")).unwrap();
        let listing = list_tree(&src, true).unwrap();
        assert_eq!(listing.files, [src.join("a.dcm"), src.join("sub/b.dcm")]);
        assert_eq!(listing.sizes, [1, 2]);
        assert_eq!(listing.leftovers, [src.join(".dicomveil-x1.part")]);
        #[cfg(unix)]
        assert_eq!(listing.links, [src.join("link")]);
        assert_eq!(list_tree(&src, false).unwrap().files, [src.join("a.dcm")]);
        assert!(is_temp_name(".dicomveil-abc.part"));
        assert!(!is_temp_name("dicomveil-abc.part") && !is_temp_name(".dicomveil-abc"));
    }

    #[test]
    fn lines_set_apart_go_in_path_order() {
        let files: Vec<PathBuf> = ["s/a", "s/c/x", "s/d"].iter().map(PathBuf::from).collect();
        let apart = set_apart(
            vec!["s/e".into(), "s/b".into()],
            vec![("s/c/locked".into(), "cannot list the folder: denied".into())],
        );
        let sources: Vec<&Path> = apart.iter().map(|a| a.source.as_path()).collect();
        assert_eq!(
            sources,
            [Path::new("s/b"), Path::new("s/c/locked"), Path::new("s/e")]
        );
        assert_eq!(merge_positions(&files, &apart), [1, 1, 3]);
        let outcome = |source: &PathBuf| FileOutcome::new(source.clone());
        let merged = merge_report(files.iter().map(outcome).collect(), apart);
        let order: Vec<_> = merged.iter().map(|f| f.source.to_str().unwrap()).collect();
        assert_eq!(order, ["s/a", "s/b", "s/c/locked", "s/c/x", "s/d", "s/e"]);
        assert_eq!(merged[2].error_kind, Some("FileAccessError"));
        assert!(matches!(merged[1].status, Status::Skipped(_)));
    }

    #[test]
    fn the_first_input_keeps_its_output_name() {
        let outputs = [Some("o/x"), None, Some("o/y"), Some("o/x"), Some("o/x")];
        assert_eq!(name_collisions(&outputs), [(3, 0), (4, 0)]);
        assert_eq!(name_collisions::<&str>(&[None, None]), []);
        let e = name_taken(Path::new("o/x"), Path::new("in/1"));
        assert_eq!(e.kind(), "PathError");
        assert_eq!(
            e.to_string(),
            "naming: its output name o/x is already taken by in/1 (the same instance twice?)"
        );
    }
}
