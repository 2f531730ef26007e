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
use crate::dest::Destination;
use crate::error::{Error, Result};
pub use crate::naming::Template;
use crate::read::{is_dicomdir, read_path};

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
    /// Where the caller will write the audit log: checked with the other paths before the run
    /// (not written by the engine).
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
    /// Temporary files left by earlier runs, removed from the folders written to.
    pub leftovers_removed: usize,
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

/// Files and links under `src`, sorted; our own temporary files are set apart and a
/// destination's lock file ([`LOCK_NAME`]) is passed over. Only the top folder unreadable is an
/// error.
pub fn list_tree(src: &Path, recursive: bool) -> Result<Listing> {
    let walker = walkdir::WalkDir::new(src)
        .max_depth(if recursive { usize::MAX } else { 1 })
        .sort_by_file_name();
    let mut listing = Listing {
        files: Vec::new(),
        sizes: Vec::new(),
        links: Vec::new(),
        unreadable: Vec::new(),
        leftovers: Vec::new(),
    };
    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            // a folder below the top that cannot be listed: the rest of the tree goes on
            Err(e) if e.depth() > 0 && e.path().is_some() => {
                let path = e.path().map(Path::to_path_buf).unwrap_or_default();
                let why = e
                    .io_error()
                    .map_or_else(|| "a loop of links".to_string(), |io| io.to_string());
                listing
                    .unreadable
                    .push((path, format!("cannot list the folder: {why}")));
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
            if is_temp_name(&name) {
                listing.leftovers.push(entry.into_path());
                continue;
            }
            if name == LOCK_NAME {
                continue;
            }
            // gone or unreadable since: 0, and the run reports the file
            listing.sizes.push(entry.metadata().map_or(0, |m| m.len()));
            listing.files.push(entry.into_path());
        } else if entry.path_is_symlink() && entry.depth() > 0 {
            listing.links.push(entry.into_path());
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

/// What a listing set apart, as report lines in the paths' order.
pub fn set_apart(links: Vec<PathBuf>, unreadable: Vec<(PathBuf, String)>) -> Vec<Apart> {
    let mut apart: Vec<Apart> = links
        .into_iter()
        .map(|source| Apart {
            source,
            status: Status::Skipped("symbolic link: not followed".into()),
            error_kind: None,
        })
        .chain(unreadable.into_iter().map(|(source, why)| Apart {
            source,
            status: Status::Refused(why),
            error_kind: Some("FileAccessError"),
        }))
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
        merged.push(FileOutcome {
            source: line.source,
            destination: None,
            status: line.status,
            bytes_in: 0,
            bytes_out: 0,
            counts: Counts::default(),
            flags: Vec::new(),
            error_kind: line.error_kind,
        });
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

/// Anonymize one file to `dst` (or, with `naming`, below `dst_root`). Returns the outcome.
/// Output paths claimed so far in a run (with the source that claimed each), so that two
/// inputs never write the same output.
type Claims = Mutex<std::collections::HashMap<PathBuf, PathBuf>>;

/// What the workers of a run share: output names claimed, and the destination (None in a dry
/// run).
struct Shared {
    claims: Claims,
    destination: Option<Destination>,
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
        let output = match &opts.naming {
            Naming::Mirror => rel.to_path_buf(),
            Naming::Template(t) => t.fill(&file)?,
        };
        let dst = dst_root.join(&output);
        if let Naming::Template(_) = opts.naming {
            let mut claimed = shared.claims.lock().expect("not poisoned");
            if let Some(first) = claimed.get(&dst) {
                return Err(name_taken(&dst, first));
            }
            claimed.insert(dst.clone(), src.to_path_buf());
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
    let mut apart = Vec::new();
    let files: Vec<(PathBuf, PathBuf)> = match (&plan.single, &opts.only) {
        (Some(rel), _) => vec![(src.to_path_buf(), rel.clone())],
        (None, Some(only)) => {
            for rel in only {
                if rel.is_absolute() || rel.components().any(|c| !matches!(c, Component::Normal(_)))
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
        (None, None) => {
            let listing = list_tree(src, opts.recursive)?;
            apart = set_apart(listing.links, listing.unreadable);
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
    let dst_root = plan.dst_root();

    let shared = Shared {
        claims: Claims::default(),
        destination,
    };
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
                        process(anon, src, rel, dst_root, opts, &shared)
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
    let files = merge_report(outcomes.into_iter().map(|(_, o)| o).collect(), apart);
    let leftovers_removed = shared
        .destination
        .as_ref()
        .map_or(0, Destination::leftovers_removed);
    Ok(Report {
        files,
        elapsed: started.elapsed(),
        stopped,
        leftovers_removed,
    })
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
        let outcome = |source: &PathBuf| FileOutcome {
            source: source.clone(),
            destination: None,
            status: Status::Done,
            bytes_in: 0,
            bytes_out: 0,
            counts: Counts::default(),
            flags: Vec::new(),
            error_kind: None,
        };
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
