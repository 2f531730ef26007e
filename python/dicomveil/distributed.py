"""Distributed runs: one source tree de-identified across a Dask cluster.

Every derived value (new UIDs, date shifts, pseudonyms) comes from the key, so workers share
no state and need no coordination: the input is listed once, cut into batches of about equal
bytes, each batch runs in the Rust engine on a Dask worker exactly as a local
:meth:`Anonymizer.anonymize_tree <dicomveil.Anonymizer.anonymize_tree>` would run it, and the
per-batch reports are merged, in input order, into one :class:`~dicomveil.Report`. The outputs
are byte for byte those of a single-machine run with the same key.

Needs the optional extra ``dicomveil[dask]``::

    from distributed import Client
    from dicomveil.distributed import anonymize_tree_distributed

    client = Client("tls://scheduler.example.org:8786")
    report = anonymize_tree_distributed(
        "/shared/export", "/shared/deid", client=client, key_file="/shared/keys/site.key"
    )
    print(report.summary())

The paths must name the same files on the client (which lists the input) and on every worker,
as on a shared filesystem. See docs/distributed.md.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
import uuid
import warnings
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

from . import _core
from .anonymizer import Anonymizer, load_key, warn_burned_in
from .errors import BurnedInAnnotationWarning, DicomveilError
from .pixels import PixelRule
from .profile import ConfidentialityProfile, ConfidentialityProfileOptions
from .pseudonym import Pseudonym
from .report import FileResult, Progress, Report, Status

if TYPE_CHECKING:
    from distributed import Client, Future

__all__ = ["DEFAULT_BATCH_BYTES", "DEFAULT_BATCH_FILES", "anonymize_tree_distributed"]

log = logging.getLogger(__name__)

#: Upper bound of a batch's bytes (each file counted as its size plus :data:`FILE_COST`).
DEFAULT_BATCH_BYTES = 256 * 2**20
#: Upper bound of a batch's files.
DEFAULT_BATCH_FILES = 1000
#: A file's fixed cost (open, parse, rename), in bytes, when batches are balanced.
FILE_COST = 64 * 2**10
#: Batches per Dask thread, at least, when there are enough files: every thread gets work,
#: and a lost worker costs little.
_BATCHES_PER_THREAD = 4
#: A batch whose worker died too often is cut in this many parts (down to single files).
_SPLIT = 16
#: How long a one-file run waits for another run's lock of its output's folder (seconds).
_ONE_FILE_WAIT = 10.0
#: The engine's element counts of a file it did not de-identify.
_NO_COUNTS = dict.fromkeys(("removed", "zeroed", "dummied", "kept", "cleaned", "uids_replaced"), 0)

OnError = Literal["continue", "stop", "raise"]
BurnedIn = Literal["warn", "refuse", "allow"]


def _dask() -> Any:
    try:
        import distributed
    except ImportError as e:
        raise ImportError(
            "distributed runs need Dask: pip install 'dask[distributed]>=2024.1'"
        ) from e
    return distributed


# -- what travels to the workers --------------------------------------------------------------
class _Secret:
    """The key, or the path of a key file read on the worker; never shown.

    Dask logs a failed task's arguments with ``repr``: this one says nothing.
    """

    __slots__ = ("key", "key_file")

    def __init__(self, key: bytes | None, key_file: str | None) -> None:
        self.key = key
        self.key_file = key_file

    def __repr__(self) -> str:
        return "<dicomveil key, not shown>"

    __str__ = __repr__

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Secret, (self.key, self.key_file))


def _pack_replacement(value: str | Pseudonym | None) -> tuple[str, str] | None:
    if value is None:
        return None
    if isinstance(value, Pseudonym):
        return ("pseudonym", "")
    return ("text", value)


def _unpack_replacement(packed: tuple[str, str] | None) -> str | Pseudonym | None:
    if packed is None:
        return None
    kind, text = packed
    return Pseudonym() if kind == "pseudonym" else text


@dataclass(frozen=True, repr=False)
class _Job:
    """Everything a batch needs but the key and its files, in a compact form."""

    run: str
    src: str
    dst: str
    #: the options of a PS3.15 profile (rebuilt exactly by create_default), or None
    options: int | None
    #: the rules of any other profile (custom, or a default one with rules on top), as JSON
    rules: str | None
    patient_name: tuple[str, str] | None
    patient_id: tuple[str, str] | None
    #: the profile's conform_to_iod
    conform: bool
    #: the profile's unlisted
    unlisted: str
    #: the profile's clean_pixel_data
    clean_pixels: bool
    #: the profile's pixel rules, (name, when, regions)
    pixel_rules: tuple[tuple[str, str, str], ...]
    #: the text of the profile's lookup table (CTP's @lookup), or None
    lookup: str | None
    #: the profile's pixel_text_allow
    pixel_text_allow: tuple[str, ...]
    burned_in: str
    #: the Anonymizer's pixel_text
    pixel_text: str
    naming: str | None
    stop_on_error: bool
    dry_run: bool
    threads: int
    version: str

    def __repr__(self) -> str:
        return f"<dicomveil batch job {self.run}>"

    @classmethod
    def of(cls, profile: ConfidentialityProfile, **fields: Any) -> _Job:
        options = profile.options
        # a PS3.15 profile travels as its options: create_default rebuilds it with the very
        # options (and so the very de-identification markers) of the client's profile
        return cls(
            options=None if options is None else int(options),
            rules=profile._rules_json() if options is None else None,
            patient_name=_pack_replacement(profile.patient_name),
            patient_id=_pack_replacement(profile.patient_id),
            conform=profile.conform_to_iod,
            unlisted=profile.unlisted,
            clean_pixels=profile.clean_pixel_data,
            pixel_rules=tuple((r.name, r.when, r.regions) for r in profile.pixel_rules),
            lookup=profile.lookup_table,
            pixel_text_allow=profile.pixel_text_allow,
            **fields,
        )

    def profile(self) -> ConfidentialityProfile:
        if self.options is not None:
            profile = ConfidentialityProfile.create_default(
                ConfidentialityProfileOptions(self.options)
            )
        else:
            profile = ConfidentialityProfile.load_from_json_string(self.rules or "[]")
        profile.patient_name = _unpack_replacement(self.patient_name)
        profile.patient_id = _unpack_replacement(self.patient_id)
        profile.conform_to_iod = self.conform
        profile.unlisted = self.unlisted
        profile.clean_pixel_data = self.clean_pixels
        profile.pixel_rules = [PixelRule(*r) for r in self.pixel_rules]
        profile._lookup = self.lookup
        profile.pixel_text_allow = self.pixel_text_allow
        return profile


def _run_batch(job: _Job, secret: _Secret, files: list[str] | None) -> dict[str, Any]:
    """On a worker: run one batch in the engine; return its report as plain data."""
    if _core.__version__ != job.version:
        raise DicomveilError(
            f"this worker has dicomveil {_core.__version__} and the client {job.version}: "
            "every worker needs the client's version (outputs could differ)"
        )
    anonymizer = Anonymizer(
        job.profile(),
        key=secret.key,
        key_file=secret.key_file,
        burned_in=job.burned_in,  # type: ignore[arg-type]
        keep_uid_map=False,
        pixel_text=job.pixel_text,  # type: ignore[arg-type]
    )
    with warnings.catch_warnings():
        # the client warns once for the whole run (its report lists the files)
        warnings.simplefilter("ignore", BurnedInAnnotationWarning)
        report = anonymizer.anonymize_tree(
            job.src,
            job.dst,
            workers=job.threads,
            naming=job.naming,
            on_error="stop" if job.stop_on_error else "continue",
            dry_run=job.dry_run,
            files=files,
            lock=False,  # the client holds it for the whole run
        )
    return {
        "files": [dict(asdict(f), flags=list(f.flags)) for f in report.files],
        "stopped": report.stopped,
    }


# -- listing and batches ----------------------------------------------------------------------
@dataclass
class _Listing:
    """A source tree as the engine lists it (``_core.list_tree``), paths relative to it:
    regular files in the engine's order with their sizes, symbolic links, and sub-folders that
    could not be listed (with why), which the report lists as a local run's does."""

    files: list[str]
    sizes: list[int]
    links: list[str]
    unreadable: list[tuple[str, str]]

    @classmethod
    def of(cls, root: str, recursive: bool) -> _Listing:
        return cls(*_core.list_tree(root, recursive))


def _partition(
    sizes: Sequence[int], batch_bytes: int, batch_files: int, min_batches: int
) -> list[tuple[int, int]]:
    """Contiguous ``(start, end)`` ranges of about equal cost (size + :data:`FILE_COST`).

    As many as the larger of: the cost over ``batch_bytes``, the files over ``batch_files``,
    and ``min_batches`` (at most one per file); none holds more than ``batch_files`` files.
    """
    n = len(sizes)
    if n == 0:
        return []
    costs = [s + FILE_COST for s in sizes]
    total = sum(costs)
    count = max(1, math.ceil(total / batch_bytes), math.ceil(n / batch_files), min(n, min_batches))
    target = total / count
    ranges: list[tuple[int, int]] = []
    start, before, current = 0, 0, 0
    for i, cost in enumerate(costs):
        # each file goes to the batch its middle falls in
        k = min(count - 1, int((before + cost / 2) / target))
        if k != current and i > start:
            ranges.append((start, i))
            start = i
        current = k
        before += cost
    ranges.append((start, n))
    out: list[tuple[int, int]] = []
    for a, b in ranges:
        parts = math.ceil((b - a) / batch_files)
        step = math.ceil((b - a) / parts)
        out.extend((i, min(b, i + step)) for i in range(a, b, step))
    return out


# -- paths as the caller gave them ------------------------------------------------------------
class _Paths:
    """The engine on a worker sees absolute paths; the report shows them as the caller gave
    them, as a local run would."""

    def __init__(self, given: str) -> None:
        self.given = given
        self.absolute = given if os.path.isabs(given) else os.path.join(os.getcwd(), given)
        self._base = self.absolute.rstrip(os.sep) or os.sep
        self._prefix = self._base if self._base == os.sep else self._base + os.sep

    def back(self, path: str) -> str:
        """A path the engine wrote, as the caller's form would give it."""
        if self.given == self.absolute:
            return path
        if path in (self.absolute, self._base):
            return self.given
        if path.startswith(self._prefix):
            return os.path.join(self.given, path[len(self._prefix) :])
        return path

    def back_in(self, text: str) -> str:
        """A message naming paths, with those below this one in the caller's form."""
        if self.given == self.absolute or self._base == os.sep:
            return text
        return text.replace(self._prefix, os.path.join(self.given, ""))


# -- the run ----------------------------------------------------------------------------------
@dataclass
class _Unit:
    """A batch: files ``start:end`` of the listing (all of ``src`` when it is one file)."""

    start: int
    end: int
    name: str


class _Run:
    """Submits batches (a bounded number at a time), gathers and merges their reports."""

    def __init__(
        self,
        client: Client,
        job: _Job,
        secret: _Secret,
        listing: _Listing | None,
        units: list[_Unit],
        src: _Paths,
        dst: _Paths,
        retries: int,
        progress: Callable[[Progress], object] | None,
    ) -> None:
        self.client = client
        self.job = job
        self.secret = secret
        self.listing = listing
        self.src = src
        self.dst = dst
        self.retries = retries
        self.progress = progress
        self.pending: deque[_Unit] = deque(units)
        self.units = {unit.name: unit for unit in units}
        #: single files whose worker died: run again alone at the end (another batch on
        #: the same worker may have been the one that killed it)
        self.suspects: list[_Unit] = []
        self.quarantine = False
        self.inflight: dict[Future, _Unit] = {}
        #: the reports of the batches done, by their first file's index
        self.results: dict[int, list[FileResult]] = {}
        self.total = len(listing.files) if listing is not None else 1
        self.finished = self.refused = self.bytes_in = 0
        self.stopping = False
        self.completed: Any = None  # the as_completed of the batches in flight
        self.error: BaseException | None = None
        self.window = 4
        self.refreshed = -math.inf

    # scheduling
    def _refresh(self) -> None:
        """Every 2 s: the window (twice the cluster's threads)."""
        if time.monotonic() - self.refreshed < 2.0:
            return
        self.refreshed = time.monotonic()
        nthreads = self.client.nthreads()
        self.window = max(4, 2 * sum(nthreads.values()))

    def _submit(self, unit: _Unit) -> None:
        files = None if self.listing is None else self.listing.files[unit.start : unit.end]
        future = self.client.submit(
            _run_batch,
            self.job,
            self.secret,
            files,
            # unique per run and batch: nothing is shared with another run, and the key
            # names hold no secret
            key=f"dicomveil-batch-{self.job.run}-{unit.name}",
            retries=self.retries,
            pure=False,
        )
        self.inflight[future] = unit
        self.completed.add(future)

    def _fill(self) -> None:
        self._refresh()
        while self.pending and len(self.inflight) < self.window and not self.stopping:
            self._submit(self.pending.popleft())

    def _handle(self, future: Future) -> None:
        distributed = _dask()
        unit = self.inflight.pop(future)
        try:
            result = future.result()
        except distributed.KilledWorker as e:
            self._killed(unit, e)
            return
        except Exception as e:  # the batch failed as a whole (or was cancelled)
            if self.error is None:
                self.error = e
            self.stopping = True
            return
        finally:
            future.release()
        files = [self._result(d) for d in result["files"]]
        self.results[unit.start] = files
        refused = sum(1 for f in files if f.status == "refused")
        self.finished += len(files)
        self.refused += refused
        self.bytes_in += sum(f.bytes_in for f in files)
        if refused and self.job.stop_on_error:
            self.stopping = True

    def _killed(self, unit: _Unit, error: BaseException) -> None:
        """A batch whose worker died each time it ran it (Dask gave up): cut it in parts, so
        that the file that kills workers, if there is one, is found. A single file is run
        again alone at the end, and refused if its worker dies then too."""
        if self.stopping:
            return
        n = unit.end - unit.start
        if n == 1 and not self.quarantine:
            suspect = _Unit(unit.start, unit.end, f"{unit.name}.alone")
            self.units[suspect.name] = suspect
            self.suspects.append(suspect)
            return
        if n > 1:
            parts = min(_SPLIT, n)
            step = math.ceil(n / parts)
            pieces = [
                _Unit(a, min(unit.end, a + step), f"{unit.name}.{i}")
                for i, a in enumerate(range(unit.start, unit.end, step))
            ]
            log.warning(
                "batch %s: its worker died each time; running it again in %d parts",
                unit.name,
                len(pieces),
            )
            self.pending.extendleft(reversed(pieces))
            self.units.update((piece.name, piece) for piece in pieces)
            return
        rel = self.listing.files[unit.start] if self.listing is not None else None
        source = self.src.absolute if rel is None else os.path.join(self.src.absolute, rel)
        size = self.listing.sizes[unit.start] if self.listing is not None else 0
        self.results[unit.start] = [
            self._result(
                {
                    "source": source,
                    "destination": None,
                    "status": "refused",
                    "reason": f"{source}: the Dask worker died each time it de-identified "
                    "this file, also alone (it may crash the engine or exhaust the worker's "
                    "memory)",
                    "error": type(error).__name__,
                    "bytes_in": size,
                    "bytes_out": 0,
                    "counts": _NO_COUNTS,
                    "flags": [],
                    "pixels": None,
                }
            )
        ]
        self.finished += 1
        self.refused += 1
        self.bytes_in += size
        if self.job.stop_on_error:
            self.stopping = True

    def _tell(self) -> None:
        if self.progress is not None:
            self.progress(Progress(self.finished, self.total, self.refused, self.bytes_in))

    def execute(self) -> BaseException | None:
        """Run every batch; the interruption (Ctrl-C, an error of ``progress``), if any.

        After an interruption the batches already running are waited for, so that every
        output written is in the report (a second Ctrl-C leaves at once).
        """
        distributed = _dask()
        self.completed = distributed.as_completed(loop=self.client.loop)
        try:
            self._fill()
            while self.inflight:
                for future in self.completed:
                    self._handle(future)
                    self._fill()
                    self._tell()
                self._fill()  # split batches may be pending with nothing in flight
            self.quarantine = True
            while self.suspects and not self.stopping:
                self._submit(self.suspects.pop(0))
                for future in self.completed:
                    self._handle(future)
                    self._tell()
            self._tell()
            return None
        except BaseException as interruption:
            self.stopping = True
            if self.inflight:
                log.warning(
                    "interrupted: waiting for the %d batches running, so that the report lists "
                    "every file written (interrupt again to leave now)",
                    len(self.inflight),
                )
            try:
                for future in distributed.as_completed(list(self.inflight), loop=self.client.loop):
                    self._handle(future)
            except KeyboardInterrupt:
                self.client.cancel(list(self.inflight))
                self.inflight.clear()
            return interruption

    # merging
    def _result(self, d: dict[str, Any]) -> FileResult:
        """A file's result as a batch returned it, with the caller's paths; the words that
        repeat in every result shared (a report may hold millions)."""
        destination = d["destination"]
        reason = d["reason"]
        if reason is not None:
            reason = self.dst.back_in(self.src.back_in(reason))
        error = d["error"]
        return FileResult(
            source=self.src.back(d["source"]),
            destination=None if destination is None else self.dst.back(destination),
            status=cast(Status, sys.intern(d["status"])),
            reason=reason,
            error=None if error is None else sys.intern(error),
            bytes_in=d["bytes_in"],
            bytes_out=d["bytes_out"],
            counts={sys.intern(k): v for k, v in d["counts"].items()},
            flags=tuple(sys.intern(f) for f in d["flags"]),
            pixels=d.get("pixels"),
        )

    def merged(self) -> list[FileResult]:
        """Every file once, in input order, the symbolic links among them in path order, as
        the engine reports them."""
        files: list[FileResult] = []
        seen: set[str] = set()
        for start in sorted(self.results):
            for f in self.results.pop(start):
                if f.source in seen:  # never: a batch's result is taken once
                    continue
                seen.add(f.source)
                files.append(f)
        listing = self.listing
        if listing is None or not (listing.links or listing.unreadable):
            return files
        # what the listing set apart (links skipped, folders it could not list refused), put
        # among the files by the engine, as in a local run's report
        given = self.src.given
        lines = _core.merge_report(
            [f.source for f in files],
            [os.path.join(given, rel) for rel in listing.links],
            [(os.path.join(given, rel), why) for rel, why in listing.unreadable],
        )
        merged: list[FileResult] = []
        taken = 0
        for at, source, status, reason, error in lines:
            merged.extend(files[taken:at])
            taken = at
            merged.append(
                FileResult(
                    source=source,
                    destination=None,
                    status=cast(Status, status),
                    reason=reason,
                    error=error,
                    counts=dict(_NO_COUNTS),
                )
            )
        merged.extend(files[taken:])
        return merged

    def settle_collisions(self, files: list[FileResult]) -> list[FileResult]:
        """With ``naming``, two inputs of different batches may name the same output (the
        same instance twice): the engine's rule (``_core.name_collisions``) says which keeps
        it, the first in input order, and refuses the others as a local run does. The files
        that keep their name are written again (another may have replaced their output)."""
        refused = _core.name_collisions(
            [f.source for f in files],
            [f.destination if f.status == "done" else None for f in files],
        )
        if not refused:
            return files
        winners = sorted({first for _, first, _, _ in refused})
        rels = [os.path.relpath(files[i].source, self.src.given) for i in winners]
        future = self.client.submit(
            _run_batch,
            self.job,
            self.secret,
            rels,
            key=f"dicomveil-batch-{self.job.run}-collisions",
            retries=self.retries,
            pure=False,
        )
        future.result()
        out = list(files)
        for i, _, reason, error in refused:
            f = files[i]
            out[i] = FileResult(
                source=f.source,
                destination=None,
                status="refused",
                reason=reason,
                error=error,
                bytes_in=f.bytes_in,
                counts=f.counts,
                flags=f.flags,
                pixels=f.pixels,
            )
        return out

    def remove_leftovers(self) -> int:
        """Remove the temporary files of ours in every folder an output of this run went to,
        once no batch is writing: those of a worker killed while writing (the output itself
        is complete or absent; the batch ran again elsewhere), and those of an earlier run
        that was killed (the batches leave them: batches of this run may be writing in the
        same folders). Returns how many."""
        folders = {
            os.path.dirname(f.destination)
            for block in self.results.values()
            for f in block
            if f.destination
        }
        # those no process holds: never one another run (or a lost worker) is writing
        removed = sum(_core.remove_leftovers(folder or os.curdir) for folder in folders)
        if removed:
            log.warning("removed %d temporary files left by killed workers or runs", removed)
        return removed


def anonymize_tree_distributed(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    client: Client,
    profile: ConfidentialityProfile | None = None,
    key: bytes | str | None = None,
    key_file: str | os.PathLike[str] | None = None,
    burned_in: BurnedIn = "warn",
    pixel_text: Literal["off", "redact"] = "off",
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    batch_files: int = DEFAULT_BATCH_FILES,
    threads_per_batch: int = 1,
    recursive: bool = True,
    naming: str | None = None,
    on_error: OnError = "continue",
    dry_run: bool = False,
    audit: str | os.PathLike[str] | None = None,
    progress: Callable[[Progress], object] | None = None,
    retries: int = 2,
) -> Report:
    """De-identify every file under ``src`` into ``dst`` on a Dask cluster.

    The result is that of ``Anonymizer(profile, key, ...).anonymize_tree(src, dst, ...)`` on
    one machine: the same output files, byte for byte, and a report of the same type listing
    every input file once, in the same order (symbolic links among them in path order, as in
    a local run), with the same statuses and reasons. ``elapsed`` is the wall time of the whole run.

    The client lists ``src`` (regular files, sorted as the engine sorts them; our temporary
    files are passed over; symbolic links are reported skipped, not followed) and cuts the
    list into contiguous batches of about equal cost, a file costing its size plus 64 KiB.
    Each batch is one Dask task that builds the Anonymizer on its worker and runs the batch
    in the Rust engine. At most twice as many batches as the cluster has threads are
    submitted at a time, so the scheduler never holds the whole listing.

    ``src``, ``dst`` and ``key_file`` must name the same files on the client and on every
    worker (a shared filesystem); a relative path is taken from the client's current folder.

    Failures: a batch that raises is retried ``retries`` times; a batch whose worker is lost
    is re-run on another worker by Dask (up to its ``distributed.scheduler.allowed-failures``
    setting, 3 by default); outputs are renamed into place only when complete, so a re-run
    never leaves a half-written output, and each file is in the report once. When Dask gives
    up on a batch because its workers kept dying, the batch is cut into parts and those are
    run, down to the single file that kills workers, which is then refused
    (``error="KilledWorker"``). Temporary files of ours in the folders written to, left by
    killed workers or by an earlier run that was killed, are removed at the end (a look into
    each such folder, from the client) and counted in ``Report.leftovers_removed``.

    The client holds the lock of ``dst`` for the whole run (the file ``.dicomveil.lock`` in
    it, as a local run does; not for a dry run): a second run into ``dst``, local or
    distributed, is refused while it goes on. The workers take no lock.
    Any other failure of a batch (the key file unreadable on a worker, ``src`` missing
    there...) ends the run: the batches running are waited for, and the batch's exception is
    raised with the report of the files done so far as its ``report`` attribute. So is a
    ``KeyboardInterrupt`` (a second one leaves without waiting).

    Args:
        client: a connected (synchronous) ``distributed.Client``.
        profile: the rules; default: PS3.15 Table E.1-1, Basic profile. It travels to the
            workers as its options (a PS3.15 profile) or its rules as JSON (a custom one),
            with ``patient_name`` and ``patient_id``.
        key: the secret, bytes or str (UTF-8). It travels to the workers as a task argument,
            over the client's connection to the scheduler (use ``tls://`` when the network
            is not trusted); it is never logged, shown in a ``repr`` or put in a task name.
            Without ``key`` or ``key_file``, a random key is drawn for this run (the same on
            every worker).
        key_file: instead of ``key``: a file every worker reads the key from (its bytes, one
            trailing newline removed); the key then never travels.
        burned_in: as for :class:`~dicomveil.Anonymizer`.
        pixel_text: as for :class:`~dicomveil.Anonymizer` (``"redact"``: OCR on the
            workers, which need ``dicomveil[ocr]``; a worker without it refuses the files
            that need it).
        batch_bytes: the most a batch holds, in cost (bytes, plus 64 KiB a file).
        batch_files: the most files a batch holds. Batches are also cut smaller, down to one
            file, to make at least 4 per thread of the cluster when it starts.
        threads_per_batch: engine threads per batch. A Dask worker runs as many batches at
            once as it has threads, so 1 (the default) keeps every thread of every worker busy
            without running more threads than cores. Raise it for workers started with fewer
            Dask threads than cores (``--nthreads 1``).
        recursive: descend into sub-folders.
        naming: as for ``anonymize_tree``. Two inputs of different batches that name the
            same output are found when merging: the first in input order keeps it (and is
            written once more), the other is refused.
        on_error: ``"continue"`` past refused files (default); ``"stop"``: submit no more
            batches after a refused file (the batches running finish, and are reported);
            ``"raise"``: as ``"stop"``, then raise the first refused file's error.
        dry_run: decide everything, write nothing.
        audit: also write the audit log (JSON Lines) to this path (on the client).
        progress: called with a :class:`~dicomveil.Progress` as batches finish, and once at
            the end, from the calling thread.
        retries: times a batch that raised is run again.

    Returns:
        a :class:`~dicomveil.Report`.

    Raises:
        ImportError: Dask (``distributed``) is not installed.
        ValueError: a bad argument.
        NamingTemplateError: a malformed ``naming`` template, as a local run finds it.
        PathError: paths a local run refuses (``dst`` inside ``src`` or ``src`` inside
            ``dst``, an ``audit`` path that is a folder, in a missing folder, or over an input
            or an output...), with its messages; and ``dst`` equal to ``src``: a batch re-run
            after a lost worker would de-identify some files twice, so there is no distributed
            in-place run. A ``PathError`` is a ``DicomValueError`` (and so a ``ValueError``)
            and a ``FileAccessError``.
        FileAccessError: ``src`` cannot be read.
        DestinationBusyError: another run holds the lock of ``dst``; the message names the
            lock file and that run's pid, host and start time.
    """
    _dask()
    started = time.perf_counter()
    if on_error not in ("continue", "stop", "raise"):
        raise ValueError("on_error must be 'continue', 'stop' or 'raise'")
    if burned_in not in ("warn", "refuse", "allow"):
        raise ValueError("burned_in must be 'warn', 'refuse' or 'allow'")
    if pixel_text not in ("off", "redact"):
        raise ValueError("pixel_text must be 'off' or 'redact'")
    for name, value, least in (
        ("batch_bytes", batch_bytes, 1),
        ("batch_files", batch_files, 1),
        ("threads_per_batch", threads_per_batch, 1),
        ("retries", retries, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{name} must be an integer of at least {least}")
    if key is not None and key_file is not None:
        raise ValueError("give key or key_file, not both")
    if getattr(client, "asynchronous", False):
        raise ValueError("give a synchronous distributed.Client (asynchronous=False)")
    profile = profile if profile is not None else ConfidentialityProfile.create_default()

    # the checks of a local run, by the same engine functions and with its messages, before
    # any task: the naming template, then the paths (with the audit log's); and no in place
    if naming is not None:
        _core.check_naming(naming)
    plan = _core.check_paths(src, dst, audit, in_place_allowed=False, naming=naming is not None)
    src_paths = _Paths(os.fspath(src))
    dst_paths = _Paths(os.fspath(dst))

    if key_file is not None:
        secret = _Secret(None, os.path.abspath(os.fspath(key_file)))
        if os.path.exists(secret.key_file or ""):
            load_key(key_file=key_file)  # fail early when the client can tell
    else:
        # one key for the whole run, the same on every worker (a random one without a key)
        secret = _Secret(load_key(key), None)
    # the profile compiles and the replacements are ASCII, as the workers will find them
    Anonymizer(profile, key=secret.key, burned_in=burned_in)._get_engine()

    job = _Job.of(
        profile,
        run=uuid.uuid4().hex[:16],
        src=src_paths.absolute,
        dst=dst_paths.absolute,
        burned_in=burned_in,
        pixel_text=pixel_text,
        naming=naming,
        stop_on_error=on_error != "continue",
        dry_run=dry_run,
        threads=threads_per_batch,
        version=_core.__version__,
    )
    # one run at a time into DST, as a local run: the client holds DST's lock for the whole
    # run (the batches take none); a one-file run waits for it a little, as locally
    lock = _core.RunLock(plan.root)
    if not dry_run:
        lock.acquire(wait=0.0 if plan.folder else _ONE_FILE_WAIT)
    try:
        listing: _Listing | None = None
        units = [_Unit(0, 1, "0")]
        if plan.folder:
            listing = _Listing.of(src_paths.absolute, recursive)
            threads = sum(client.nthreads().values())
            ranges = _partition(
                listing.sizes, batch_bytes, batch_files, _BATCHES_PER_THREAD * max(1, threads)
            )
            units = [_Unit(a, b, str(i)) for i, (a, b) in enumerate(ranges)]
        log.info(
            "run %s: %d files in %d batches",
            job.run,
            len(listing.files) if listing else 1,
            len(units),
        )

        run = _Run(client, job, secret, listing, units, src_paths, dst_paths, retries, progress)
        interruption = run.execute()
        removed = 0 if dry_run else run.remove_leftovers()
        files = run.merged()
        if naming is not None and not dry_run and run.error is None and interruption is None:
            try:
                files = run.settle_collisions(files)
            except Exception as e:
                run.error = e
        # stopped, as the engine says it: some files were not processed
        apart = len(listing.links) + len(listing.unreadable) if listing is not None else 0
        stopped = len(files) - apart < run.total
        report = Report(
            files=tuple(files),
            elapsed=time.perf_counter() - started,
            stopped=stopped,
            leftovers_removed=removed,
        )
        if audit is not None:
            report.write_audit(audit)
        failure = interruption if interruption is not None else run.error
        if failure is not None:
            try:
                failure.report = report  # type: ignore[attr-defined]
            except AttributeError:  # pragma: no cover - an exception without a __dict__
                pass
            raise failure
        if on_error == "raise":
            report._raise_first_refused()
        warn_burned_in(report)  # once for the run, as a local run warns
        return report
    finally:
        lock.release()
