"""Reports of batch runs: what happened to every file, and the audit log."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Literal, NamedTuple

from . import _core
from .errors import FileAccessError, error_class

__all__ = ["FileResult", "Progress", "Report"]

Status = Literal["done", "refused", "skipped"]


class Progress(NamedTuple):
    """Where a batch run is, as given to a progress callback."""

    #: The inputs processed (not those a stop left unprocessed).
    finished: int
    #: The inputs known: the files given (or the one file) from the start; for a tree, those
    #: listed so far (it is listed as the run goes, at most 4096 inputs ahead of the files
    #: done), the whole tree once its listing is over.
    total: int
    refused: int
    bytes_in: int


_COUNT_NAMES = ("removed", "zeroed", "dummied", "kept", "cleaned", "uids_replaced")


@dataclass(frozen=True, slots=True)
class FileResult:
    """The outcome for one input file. ``reason`` and ``error`` never hold patient data."""

    source: str
    destination: str | None
    status: Status
    reason: str | None = None
    #: The error class for refused files (``InvalidDicomError``, ...).
    error: str | None = None
    bytes_in: int = 0
    bytes_out: int = 0
    #: Elements by action: removed, zeroed, dummied, kept, cleaned, uids_replaced.
    counts: dict[str, int] = field(default_factory=dict)
    flags: tuple[str, ...] = ()
    #: What Clean Pixel Data did to the pixels ("cleaned by rule 2 (...)", "no rule
    #: matched", ...); None where it does not apply.
    pixels: str | None = None


#: Rows are read back in blocks of this size.
_BLOCK = 1 << 20
_NOT_FLAGGED = b'"flags": [], "pixels": '


class Report:
    """The report of :meth:`Anonymizer.anonymize_tree`: what happened to every input.

    A run of the engine keeps its counts and its refused files in memory, and writes one row
    per input (to the audit log, or to a temporary file) as the files complete, so a run of
    millions of files does not hold a line per file. :attr:`files` reads the rows back when
    first asked for (and keeps them); :meth:`iter_files` reads them without keeping them.
    ``done``, ``skipped`` and ``flagged`` read them too; ``refused``, the counts and
    :meth:`summary` do not.
    """

    __slots__ = (
        "_files",
        "_refused",
        "_rows",
        "_totals",
        "elapsed",
        "leftovers_removed",
        "stopped",
    )

    def __init__(
        self,
        files: Iterable[FileResult] = (),
        elapsed: float = 0.0,
        stopped: bool = False,
        leftovers_removed: int = 0,
    ) -> None:
        self._files: tuple[FileResult, ...] | None = tuple(files)
        self._rows: _core.Rows | None = None
        self._refused: tuple[FileResult, ...] | None = None
        self._totals: dict[str, int] | None = None
        #: The wall time of the whole run, the audit log included, in seconds.
        self.elapsed = elapsed
        #: True when the run stopped before every file was processed.
        self.stopped = stopped
        #: Temporary files (``.dicomveil-*.part``) left by an earlier, killed run in the
        #: folders this run wrote to, and removed.
        self.leftovers_removed = leftovers_removed

    # -- every input ---------------------------------------------------------------------------
    @property
    def files(self) -> tuple[FileResult, ...]:
        """Every input, in input order (read back from the run's rows when first asked)."""
        if self._files is None:
            self._files = tuple(self.iter_files())
        return self._files

    def iter_files(self) -> Iterator[FileResult]:
        """Every input, in input order, read back one block at a time (nothing kept)."""
        if self._files is not None:
            yield from self._files
            return
        for line in self._lines():
            yield _result(line)

    def _lines(self, keep: Callable[[bytes], bool] | None = None) -> Iterator[bytes]:
        rows = self._rows
        if rows is None:
            return
        offset, rest = 0, b""
        while True:
            block = rows.read(offset, _BLOCK)
            if not block:
                break
            offset += len(block)
            lines = (rest + block).split(b"\n")
            rest = lines.pop()
            yield from (line for line in lines if keep is None or keep(line))
        if rest:
            yield rest

    def _select(self, status: Status | None = None, flagged: bool = False) -> list[FileResult]:
        if self._files is not None or self._rows is None:
            return [
                f
                for f in self.files
                if (status is None or f.status == status) and (not flagged or f.flags)
            ]
        # read the rows without building a result for each: only the lines that may match
        needle = None if status is None else f'"status": "{status}"'.encode()

        def keep(line: bytes) -> bool:
            return (needle is None or needle in line) and (not flagged or _NOT_FLAGGED not in line)

        chosen = (_result(line) for line in self._lines(keep))
        return [
            f for f in chosen if (status is None or f.status == status) and (not flagged or f.flags)
        ]

    @property
    def done(self) -> list[FileResult]:
        """Files de-identified and written."""
        return self._select("done")

    @property
    def refused(self) -> list[FileResult]:
        """DICOM files that could not be de-identified, each with its reason (kept in memory
        by the run)."""
        if self._refused is not None:
            return list(self._refused)
        return self._select("refused")

    @property
    def skipped(self) -> list[FileResult]:
        """Files that are not DICOM, DICOMDIRs and symbolic links: not written."""
        return self._select("skipped")

    @property
    def flagged(self) -> list[FileResult]:
        """Files with flags (e.g. possible burned-in annotation)."""
        return self._select(flagged=True)

    # -- counts --------------------------------------------------------------------------------
    def _count(self, name: str) -> int:
        if self._totals is not None:
            return self._totals[name]
        if name == "files":
            return len(self.files)
        if name == "flagged":
            return len(self.flagged)
        if name.startswith("bytes_"):
            return sum(getattr(f, name) for f in self.files)
        return sum(1 for f in self.files if f.status == name)

    @property
    def bytes_in(self) -> int:
        return self._count("bytes_in")

    @property
    def bytes_out(self) -> int:
        return self._count("bytes_out")

    @property
    def ok(self) -> bool:
        """True when no file was refused and the run was not stopped."""
        return self._count("refused") == 0 and not self.stopped

    def summary(self) -> str:
        """One line: counts and throughput (over the whole run, the audit log included)."""
        mb = self.bytes_in / 1e6
        rate = mb / self.elapsed if self.elapsed > 0 else 0.0
        n = self._count("files")
        files_rate = n / self.elapsed if self.elapsed > 0 else 0.0
        flagged = self._count("flagged")
        flagged_text = f", {flagged} flagged" if flagged else ""
        text = (
            f"{self._count('done')} done, {self._count('refused')} refused, "
            f"{self._count('skipped')} skipped{flagged_text} in {self.elapsed:.2f} s "
            f"({files_rate:.0f} files/s, {rate:.1f} MB/s)"
        )
        if self.stopped:
            text += " - stopped early"
        return text

    def __repr__(self) -> str:
        return f"<Report {self.summary()}>"

    def __eq__(self, other: object) -> bool:
        # as the frozen dataclass it was: by every file, the time and whether it stopped
        if not isinstance(other, Report):
            return NotImplemented
        return (self.elapsed, self.stopped, self.leftovers_removed, self.files) == (
            other.elapsed,
            other.stopped,
            other.leftovers_removed,
            other.files,
        )

    __hash__ = None  # type: ignore[assignment]  # as before: its files are not hashable

    def __reduce__(self) -> tuple[type[Report], tuple[object, ...]]:
        # pickled with every file's line (the rows of a run are not picklable)
        return (Report, (self.files, self.elapsed, self.stopped, self.leftovers_removed))

    def _raise_first_refused(self) -> None:
        """Raise the first refused file's error as its class (``on_error="raise"``)."""
        if self.refused:
            first = self.refused[0]
            raise error_class(first.error)(first.reason)

    def write_audit(self, path: str | os.PathLike[str]) -> None:
        """Write the audit log: JSON Lines, one line per file (no patient data, no key).

        UTF-8; a path that is not valid text (a file name of undecodable bytes) is written
        with JSON escapes. Written to a temporary file and renamed: never left half written.
        """
        import tempfile

        target = os.fspath(path)
        folder = os.path.dirname(os.path.abspath(target))
        try:
            # one of our temporary names: listings pass over it, as over outputs being written
            fd, tmp = tempfile.mkstemp(
                prefix=f"{_core.TEMP_PREFIX}audit-", suffix=_core.TEMP_SUFFIX, dir=folder
            )
        except OSError as e:
            raise FileAccessError(f"{target}: cannot write the audit log: {e.strerror}") from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                _hold(f.fileno())
                for r in self.files:
                    line = asdict(r)
                    line["flags"] = list(r.flags)
                    text = json.dumps(line, ensure_ascii=False)
                    try:
                        text.encode("utf-8")
                    except UnicodeEncodeError:  # undecodable bytes of a file name
                        text = json.dumps(line, ensure_ascii=True)
                    f.write(text + "\n")
                f.flush()
                os.chmod(tmp, 0o644)
                os.replace(tmp, target)  # still held: never taken for a leftover
        except OSError as e:
            with contextlib.suppress(OSError):  # renamed already, if closing it failed
                os.unlink(tmp)
            raise FileAccessError(f"{target}: cannot write the audit log: {e.strerror}") from None

    @classmethod
    def _from_core(cls, raw: dict) -> Report:
        report = cls(
            elapsed=raw["elapsed"],
            stopped=raw["stopped"],
            leftovers_removed=raw.get("leftovers_removed", 0),
        )
        report._files = None
        report._rows = raw["rows"]
        report._totals = raw["totals"]
        report._refused = tuple(_from_tuple(t) for t in raw["refused"])
        return report


def _hold(fd: int) -> None:
    """Hold a temporary file of ours locked while it is written, as the engine does: a run
    removing leftovers in its folders passes over the files some process holds."""
    try:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX)
    except (ImportError, OSError):  # no flock here: no run removes leftovers here either
        pass


def _from_tuple(t: tuple) -> FileResult:
    src, dst, status, reason, error, bytes_in, bytes_out, counts, flags, pixels = t
    return FileResult(
        src,
        dst,
        status,
        reason,
        error,
        bytes_in,
        bytes_out,
        dict(zip(_COUNT_NAMES, counts, strict=True)),
        tuple(flags),
        pixels,
    )


def _result(line: bytes) -> FileResult:
    """A row of the engine (a JSON line of the audit log) as a FileResult."""
    d = json.loads(line)
    d["flags"] = tuple(d["flags"])
    return FileResult(**d)
