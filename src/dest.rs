//! Destinations: the folder a run writes into, held by one run at a time and written only
//! inside.
//!
//! A run takes the lock of its destination ([`RunLock`]): the file
//! [`LOCK_NAME`](crate::batch::LOCK_NAME) in it, locked with `flock` (advisory), holding the
//! run's pid, host and start time. The system releases the lock when the process ends, however
//! it ends, so a lock file left by a killed run is harmless: the next run locks it and takes it
//! over. While a run holds it, another is refused ([`Error::Busy`]) with the holder's pid, host
//! and start time. A run that ends removes the file.
//!
//! Outputs are written by a [`Destination`]: each folder below it is opened (created when
//! missing) one part of its path at a time from the destination's own descriptor, without
//! following symbolic links, and each output is created in its folder's descriptor and renamed
//! there. A link inside the destination refuses the files whose outputs would go through it:
//! nothing is written outside. The first time a run writes into a folder, the temporary files
//! of ours found there (`.dicomveil-*.part`, left by a killed run) are removed and counted.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::batch::{is_temp_name, LOCK_NAME};
use crate::dataset::DicomFile;
use crate::error::{Error, Result};
use crate::write::io_error;
#[cfg(unix)]
use crate::write::{file_id, Held};

/// A mutex's value, also after a panic elsewhere (what it guards stays consistent).
fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The refusal of an output whose path meets a symbolic link (`link`) inside the destination.
fn link_refusal(link: &Path) -> Error {
    Error::Path {
        path: link.display().to_string(),
        problem: "a symbolic link inside the destination: not followed, so nothing is written \
                  through it (remove it, or write elsewhere)"
            .into(),
    }
}

/// What the lock file says of its holder, for the lock file.
fn holder_text() -> String {
    #[cfg(unix)]
    let host = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    #[cfg(not(unix))]
    let host = std::env::var("COMPUTERNAME").unwrap_or_default();
    format!(
        "pid={}\nhost={host}\nstarted={}\n",
        std::process::id(),
        chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC")
    )
}

/// The holder of a lock as its lock file says (`pid 12 on host h, started ...`); anything
/// but short printable ASCII is left out (the file could hold anything).
fn describe_holder(text: &str) -> String {
    let field = |key: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
            .map(str::trim)
            .filter(|v| !v.is_empty() && v.len() <= 64)
            .filter(|v| v.bytes().all(|b| b.is_ascii_graphic() || b == b' '))
    };
    let Some(pid) = field("pid") else {
        return "which one, its lock file does not say yet".into();
    };
    let mut holder = format!("pid {pid}");
    if let Some(host) = field("host") {
        holder.push_str(&format!(" on host {host}"));
    }
    if let Some(started) = field("started") {
        holder.push_str(&format!(", started {started}"));
    }
    holder
}

/// The lock of a destination, held by one run until dropped (see the module's text).
#[derive(Debug)]
pub struct RunLock {
    /// The lock file.
    path: PathBuf,
    #[cfg(unix)]
    dir: std::os::fd::OwnedFd,
    /// Holds the `flock`: closing it (after the file is removed) releases the lock.
    #[cfg(unix)]
    _file: std::fs::File,
}

/// How often a run waiting for a lock tries it again.
const RETRY: Duration = Duration::from_millis(25);

impl RunLock {
    /// Take the lock of `folder` (created when missing), waiting up to `wait` for another run
    /// to release it. Refused with [`Error::Busy`] (naming the lock file and its holder) when
    /// another run still holds it then.
    pub fn acquire(folder: &Path, wait: Duration) -> Result<RunLock> {
        let folder = if folder.as_os_str().is_empty() {
            Path::new(".")
        } else {
            folder
        };
        std::fs::create_dir_all(folder).map_err(io_error(folder, "create the folder"))?;
        #[cfg(unix)]
        {
            let dir = open_folder(folder)?;
            RunLock::acquire_in(dir, folder, wait)
        }
        #[cfg(not(unix))]
        {
            RunLock::acquire_new(folder, wait)
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// [`RunLock::acquire`] in the open folder `dir` (the folder `folder`).
    #[cfg(unix)]
    fn acquire_in(dir: std::os::fd::OwnedFd, folder: &Path, wait: Duration) -> Result<RunLock> {
        use std::io::Read;
        use std::os::unix::fs::FileExt;

        use rustix::fs::{flock, fstat, openat, statat, AtFlags, FlockOperation, Mode, OFlags};
        use rustix::io::Errno;

        let path = folder.join(LOCK_NAME);
        let deadline = Instant::now() + wait;
        let flags = OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        loop {
            let fd = openat(&dir, LOCK_NAME, flags, Mode::from_raw_mode(0o644)).map_err(|e| {
                if e == Errno::LOOP {
                    link_refusal(&path)
                } else {
                    io_error(&path, "create the lock file")(e.into())
                }
            })?;
            match flock(&fd, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {
                    // the file may have been removed by the run that held it, between our open
                    // and our lock: then the lock is taken on the file there now
                    let ours = fstat(&fd).map_err(|e| io_error(&path, "lock")(e.into()))?;
                    let there = statat(&dir, LOCK_NAME, AtFlags::SYMLINK_NOFOLLOW);
                    if !there.is_ok_and(|s| s.st_dev == ours.st_dev && s.st_ino == ours.st_ino) {
                        continue;
                    }
                    let file = std::fs::File::from(fd);
                    let text = holder_text();
                    file.set_len(0)
                        .and_then(|()| file.write_all_at(text.as_bytes(), 0))
                        .map_err(io_error(&path, "write the lock file"))?;
                    return Ok(RunLock {
                        path,
                        dir,
                        _file: file,
                    });
                }
                Err(Errno::WOULDBLOCK) | Err(Errno::INTR) => {
                    if Instant::now() < deadline {
                        std::thread::sleep(RETRY);
                        continue;
                    }
                    let mut text = String::new();
                    let _ = std::fs::File::from(fd).take(1024).read_to_string(&mut text);
                    return Err(Error::Busy {
                        lock: path.display().to_string(),
                        holder: describe_holder(&text),
                    });
                }
                // no lock on this file system (an NFS mount without its lock service...): a
                // run that cannot lock does not run
                Err(e) => return Err(io_error(&path, "lock the destination")(e.into())),
            }
        }
    }

    /// Without `flock`: the lock is the lock file itself, created new; a file left by a run
    /// that ended abruptly has to be removed by hand (the message says so).
    #[cfg(not(unix))]
    fn acquire_new(folder: &Path, wait: Duration) -> Result<RunLock> {
        use std::io::Write;
        let path = folder.join(LOCK_NAME);
        let deadline = Instant::now() + wait;
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut file) => {
                    file.write_all(holder_text().as_bytes())
                        .map_err(io_error(&path, "write the lock file"))?;
                    return Ok(RunLock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if Instant::now() < deadline {
                        std::thread::sleep(RETRY);
                        continue;
                    }
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    return Err(Error::Busy {
                        lock: path.display().to_string(),
                        holder: format!(
                            "{}; if no run is going on, the file is left from one that ended \
                             abruptly: remove it",
                            describe_holder(&text)
                        ),
                    });
                }
                Err(e) => return Err(io_error(&path, "create the lock file")(e)),
            }
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // removed while still locked: a run waiting on this file sees it gone and locks anew
        #[cfg(unix)]
        let _ = rustix::fs::unlinkat(&self.dir, LOCK_NAME, rustix::fs::AtFlags::empty());
        #[cfg(not(unix))]
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Open a folder (following links: the destination itself may be one).
#[cfg(unix)]
fn open_folder(folder: &Path) -> Result<std::os::fd::OwnedFd> {
    use rustix::fs::{open, Mode, OFlags};
    open(
        folder,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_error(folder, "open the folder")(e.into()))
}

/// The folder `name` in the open folder `parent`, created when missing, never through a link.
/// `path` is its path, for messages.
#[cfg(unix)]
fn open_subfolder(
    parent: std::os::fd::BorrowedFd<'_>,
    name: &std::ffi::OsStr,
    path: &Path,
) -> Result<std::os::fd::OwnedFd> {
    use rustix::fs::{mkdirat, openat, statat, AtFlags, FileType, Mode, OFlags};
    use rustix::io::Errno;
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let open = || openat(parent, name, flags, Mode::empty());
    let opened = match open() {
        Err(Errno::NOENT) => match mkdirat(parent, name, Mode::from_raw_mode(0o777)) {
            Ok(()) | Err(Errno::EXIST) => open(),
            Err(e) => return Err(io_error(path, "create the folder")(e.into())),
        },
        other => other,
    };
    opened.map_err(|e| {
        let is_link = statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)
            .is_ok_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Symlink);
        if is_link {
            link_refusal(path)
        } else {
            io_error(path, "open the folder")(e.into())
        }
    })
}

/// Remove the temporary files of ours in the open folder `dir` that nobody holds (a file
/// being written is held by its writer: [`crate::write::hold_with`]); returns how many.
#[cfg(unix)]
fn remove_leftovers(dir: std::os::fd::BorrowedFd<'_>) -> usize {
    use rustix::fs::{flock, fstat, openat, statat, unlinkat, AtFlags, Dir, FileType};
    use rustix::fs::{FlockOperation, Mode, OFlags};
    let Ok(entries) = Dir::read_from(dir) else {
        return 0;
    };
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !is_temp_name(&name.to_string_lossy()) {
            continue;
        }
        // a regular file nobody holds (this process: not even opened, see `Held`), still
        // there under its name once we hold it
        let Ok(seen) = statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) else {
            continue;
        };
        if FileType::from_raw_mode(seen.st_mode) != FileType::RegularFile
            || Held::here(file_id(&seen))
        {
            continue;
        }
        let Ok(fd) = openat(dir, name, flags, Mode::empty()) else {
            continue;
        };
        let Ok(ours) = fstat(&fd) else { continue };
        if file_id(&ours) != file_id(&seen)
            || flock(&fd, FlockOperation::NonBlockingLockExclusive).is_err()
        {
            continue;
        }
        let same = statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
            .is_ok_and(|s| file_id(&s) == file_id(&ours));
        if same && unlinkat(dir, name, AtFlags::empty()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Remove the temporary files of ours that nobody holds in `folder` (not below it): those of
/// killed runs and workers. Returns how many (none when the folder cannot be read).
pub fn remove_leftovers_in(folder: &Path) -> usize {
    let folder = if folder.as_os_str().is_empty() {
        Path::new(".")
    } else {
        folder
    };
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        open_folder(folder).map_or(0, |dir| remove_leftovers(dir.as_fd()))
    }
    #[cfg(not(unix))]
    remove_leftovers(folder)
}

#[cfg(not(unix))]
fn remove_leftovers(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| is_temp_name(&e.file_name().to_string_lossy()))
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| std::fs::remove_file(e.path()).is_ok())
        .count()
}

/// 128-bit keys of paths (two keyed SipHash-1-3 of the path), kept in place of the paths in
/// the sets a run fills per output or per folder: 16 bytes each, and two different paths never
/// share one in practice (nor can a crafted name make them: the keys are random).
#[derive(Debug, Default)]
pub(crate) struct PathKeys(std::hash::RandomState, std::hash::RandomState);

impl PathKeys {
    pub(crate) fn key(&self, path: &Path) -> u128 {
        use std::hash::BuildHasher;
        (u128::from(self.0.hash_one(path)) << 64) | u128::from(self.1.hash_one(path))
    }
}

/// Folders kept open for the next outputs (most outputs go where the one before went).
#[cfg(unix)]
const OPEN_FOLDERS: usize = 64;

/// The destination of a run: where its outputs are written, inside it only (see the module's
/// text).
#[derive(Debug)]
pub struct Destination {
    root: PathBuf,
    #[cfg(unix)]
    dir: std::os::fd::OwnedFd,
    /// Folders open, by their path relative to the root.
    #[cfg(unix)]
    open: Mutex<std::collections::HashMap<PathBuf, std::sync::Arc<std::os::fd::OwnedFd>>>,
    /// Remove the leftovers of earlier runs (a run that holds the lock).
    sweep: bool,
    /// Folders whose leftovers were removed (the keys of their paths relative to the root).
    swept: Mutex<HashSet<u128>>,
    keys: PathKeys,
    removed: AtomicUsize,
    /// Released when the destination is dropped, after every output.
    lock: Option<RunLock>,
}

impl Destination {
    /// The destination folder `root`, created when missing. With `lock`, its lock is taken
    /// (waiting up to that long for another run's: [`RunLock::acquire`]) and the leftovers of
    /// earlier runs are removed from the folders written to; without, the caller holds the
    /// lock (a batch of a larger run), and other batches may be writing: neither.
    pub fn open(root: &Path, lock: Option<Duration>) -> Result<Destination> {
        let folder = if root.as_os_str().is_empty() {
            Path::new(".")
        } else {
            root
        };
        std::fs::create_dir_all(folder).map_err(io_error(folder, "create the folder"))?;
        #[cfg(unix)]
        let dir = open_folder(folder)?;
        let run_lock = match lock {
            #[cfg(unix)]
            Some(wait) => {
                let own = dir
                    .try_clone()
                    .map_err(io_error(folder, "open the folder"))?;
                Some(RunLock::acquire_in(own, folder, wait)?)
            }
            #[cfg(not(unix))]
            Some(wait) => Some(RunLock::acquire_new(folder, wait)?),
            None => None,
        };
        Ok(Destination {
            root: root.to_path_buf(),
            #[cfg(unix)]
            dir,
            #[cfg(unix)]
            open: Mutex::default(),
            sweep: run_lock.is_some(),
            swept: Mutex::default(),
            keys: PathKeys::default(),
            removed: AtomicUsize::new(0),
            lock: run_lock,
        })
    }

    /// The lock of the run, when it took one.
    pub fn lock(&self) -> Option<&RunLock> {
        self.lock.as_ref()
    }

    /// Temporary files left by earlier runs removed so far.
    pub fn leftovers_removed(&self) -> usize {
        self.removed.load(Ordering::Relaxed)
    }

    /// Save `file` atomically as `rel` below the root (a relative path down, without `..`),
    /// its folders created as needed; no link inside the destination is followed. Returns the
    /// bytes written.
    pub fn save(&self, file: &DicomFile, rel: &Path) -> Result<u64> {
        let path = self.root.join(rel);
        let inside = rel.components().all(|c| matches!(c, Component::Normal(_)));
        let (Some(name), true) = (rel.file_name(), inside) else {
            return Err(Error::Path {
                path: path.display().to_string(),
                problem: "not a path inside the destination".into(),
            });
        };
        let parent = rel.parent().unwrap_or(Path::new(""));
        #[cfg(unix)]
        {
            use std::os::fd::AsFd;
            let dir = self.folder(parent)?;
            self.sweep_once(parent, || remove_leftovers(dir.as_fd()));
            crate::write::save_in(file, dir.as_fd(), name, &path)
        }
        #[cfg(not(unix))]
        {
            let _ = name;
            let folder = self.root.join(parent);
            std::fs::create_dir_all(&folder).map_err(io_error(&folder, "create the folder"))?;
            self.sweep_once(parent, || remove_leftovers(&folder));
            crate::write::save(file, &path)
        }
    }

    /// Remove the leftovers of a folder the first time an output goes there. The workers of
    /// the run wait here before their first file in a folder, so none of theirs is taken for
    /// a leftover.
    fn sweep_once(&self, rel: &Path, remove: impl FnOnce() -> usize) {
        if !self.sweep {
            return;
        }
        let key = self.keys.key(rel);
        let mut swept = locked(&self.swept);
        if !swept.contains(&key) {
            self.removed.fetch_add(remove(), Ordering::Relaxed);
            swept.insert(key);
        }
    }

    /// The folder `rel` below the root, open (created as needed, no link followed).
    #[cfg(unix)]
    fn folder(&self, rel: &Path) -> Result<std::sync::Arc<std::os::fd::OwnedFd>> {
        use std::os::fd::AsFd;
        if let Some(dir) = locked(&self.open).get(rel) {
            return Ok(dir.clone());
        }
        let mut here = self.root.clone();
        let mut dir: Option<std::os::fd::OwnedFd> = None;
        for part in rel.components() {
            let Component::Normal(name) = part else {
                continue; // none: checked by the caller
            };
            here.push(name);
            let parent = dir.as_ref().map_or(self.dir.as_fd(), |d| d.as_fd());
            dir = Some(open_subfolder(parent, name, &here)?);
        }
        let dir = match dir {
            Some(dir) => dir,
            None => self
                .dir
                .try_clone()
                .map_err(io_error(&self.root, "open the folder"))?,
        };
        let dir = std::sync::Arc::new(dir);
        let mut open = locked(&self.open);
        if open.len() >= OPEN_FOLDERS {
            open.clear();
        }
        open.insert(rel.to_path_buf(), dir.clone());
        Ok(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_holder_is_described_from_its_lock_file() {
        let text = holder_text();
        let described = describe_holder(&text);
        assert!(
            described.starts_with(&format!("pid {} on host ", std::process::id())),
            "{described}"
        );
        assert!(described.contains(", started 2"), "{described}");
        assert_eq!(
            describe_holder("pid=12\nhost=h\n"),
            "pid 12 on host h".to_string()
        );
        assert_eq!(
            describe_holder(""),
            "which one, its lock file does not say yet"
        );
        // what is not short printable text is left out
        assert_eq!(describe_holder("pid=1\nhost=\u{1b}[2J\n"), "pid 1");
    }

    #[cfg(unix)]
    #[test]
    fn a_second_lock_is_refused_until_the_first_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("new/dst");
        let first = RunLock::acquire(&folder, Duration::ZERO).unwrap();
        assert_eq!(first.path(), folder.join(LOCK_NAME));
        let text = std::fs::read_to_string(first.path()).unwrap();
        assert!(text.starts_with(&format!("pid={}\n", std::process::id())));
        let started = Instant::now();
        let e = RunLock::acquire(&folder, Duration::from_millis(200)).unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert_eq!(e.kind(), "DestinationBusyError");
        let message = e.to_string();
        assert!(
            message.starts_with(&format!(
                "{}: the destination is in use by another dicomveil run (pid {} on host ",
                first.path().display(),
                std::process::id()
            )),
            "{message}"
        );
        drop(first);
        assert!(!folder.join(LOCK_NAME).exists());
        // a lock file nobody holds (a killed run's) is taken over
        std::fs::write(folder.join(LOCK_NAME), "pid=999999999\nhost=gone\n").unwrap();
        let again = RunLock::acquire(&folder, Duration::ZERO).unwrap();
        let text = std::fs::read_to_string(again.path()).unwrap();
        assert!(text.starts_with(&format!("pid={}\n", std::process::id())));
    }

    #[cfg(unix)]
    #[test]
    fn a_waiting_run_gets_the_lock_when_it_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(dir.path(), Duration::ZERO).unwrap();
        let waiter = std::thread::spawn({
            let folder = dir.path().to_path_buf();
            move || RunLock::acquire(&folder, Duration::from_secs(20)).map(drop)
        });
        std::thread::sleep(Duration::from_millis(100));
        drop(first);
        waiter.join().unwrap().unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_link_in_the_destination_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let (root, elsewhere) = (dir.path().join("dst"), dir.path().join("elsewhere"));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, root.join("link")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("nowhere"), root.join(LOCK_NAME)).unwrap();
        // a link where the lock file goes: refused, not followed
        let e = Destination::open(&root, Some(Duration::ZERO)).unwrap_err();
        assert_eq!(e.kind(), "PathError", "{e}");
        assert!(!dir.path().join("nowhere").exists());
        std::fs::remove_file(root.join(LOCK_NAME)).unwrap();

        let dest = Destination::open(&root, Some(Duration::ZERO)).unwrap();
        let file = sample();
        for rel in ["link/a.dcm", "link/sub/b.dcm"] {
            let e = dest.save(&file, Path::new(rel)).unwrap_err();
            assert_eq!(e.kind(), "PathError");
            assert_eq!(
                e.to_string(),
                format!(
                    "{}: a symbolic link inside the destination: not followed, so nothing is \
                     written through it (remove it, or write elsewhere)",
                    root.join("link").display()
                )
            );
        }
        assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
        assert!(dest.save(&file, Path::new("ok/c.dcm")).unwrap() > 0);
        assert!(root.join("ok/c.dcm").is_file());
        assert!(dest.save(&file, Path::new("../x.dcm")).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn leftovers_are_removed_once_per_folder_by_a_run_that_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a")).unwrap();
        for name in [
            "a/.dicomveil-x1.part",
            "a/.dicomveil-x2.part",
            ".dicomveil-y.part",
        ] {
            std::fs::write(root.join(name), b"partial").unwrap();
        }
        std::fs::write(root.join("a/keep.part"), b"not ours").unwrap();
        let file = sample();
        {
            // a batch of a larger run leaves them
            let batch = Destination::open(root, None).unwrap();
            batch.save(&file, Path::new("a/1.dcm")).unwrap();
            assert_eq!(batch.leftovers_removed(), 0);
        }
        let dest = Destination::open(root, Some(Duration::ZERO)).unwrap();
        dest.save(&file, Path::new("a/1.dcm")).unwrap();
        dest.save(&file, Path::new("a/2.dcm")).unwrap();
        assert_eq!(dest.leftovers_removed(), 2);
        assert!(root.join("a/keep.part").exists() && root.join(".dicomveil-y.part").exists());
        dest.save(&file, Path::new("3.dcm")).unwrap();
        assert_eq!(dest.leftovers_removed(), 3);
    }

    #[cfg(unix)]
    #[test]
    fn a_temporary_file_held_by_its_writer_is_not_a_leftover() {
        use rustix::fs::{flock, FlockOperation};
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join(".dicomveil-dead.part"), b"killed").unwrap();
        let live = std::fs::File::create(root.join(".dicomveil-live.part")).unwrap();
        flock(&live, FlockOperation::LockExclusive).unwrap();
        // the audit log of this run, beside its outputs
        let sink = crate::sink::Sink::open(Some(&root.join("audit.jsonl")), None).unwrap();
        let dest = Destination::open(root, Some(Duration::ZERO)).unwrap();
        dest.save(&sample(), Path::new("a.dcm")).unwrap();
        assert_eq!(dest.leftovers_removed(), 1);
        assert!(root.join(".dicomveil-live.part").exists());
        assert!(!root.join(".dicomveil-dead.part").exists());
        let (_, error) = sink.finish();
        assert!(error.is_none(), "{error:?}");
        assert!(root.join("audit.jsonl").is_file());
        drop(live);
        assert_eq!(remove_leftovers_in(root), 1);
        assert!(!root.join(".dicomveil-live.part").exists());
    }

    #[test]
    fn path_keys_tell_paths_apart_as_paths_do() {
        let keys = PathKeys::default();
        let key = |p: &str| keys.key(Path::new(p));
        assert_eq!(key("a/b/c.dcm"), key("a//b/c.dcm")); // the same path
        assert_ne!(key("a/b/c.dcm"), key("a/b/d.dcm"));
        assert_ne!(key("a/bc"), key("ab/c"));
        let distinct: HashSet<u128> = (0..10_000).map(|i| key(&format!("{i}.dcm"))).collect();
        assert_eq!(distinct.len(), 10_000);
        assert_ne!(PathKeys::default().key(Path::new("x")), key("x")); // random keys
    }

    /// A small valid file of the examples.
    fn sample() -> DicomFile {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/ct_explicit_le.dcm");
        crate::read::read_path(&path).unwrap()
    }
}
