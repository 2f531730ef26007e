"""Reports of batch runs: what happened to every file, and the audit log."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Literal, NamedTuple

from . import _core
from .errors import FileAccessError, error_class

__all__ = ["FileResult", "Progress", "Report"]

Status = Literal["done", "refused", "skipped"]


class Progress(NamedTuple):
    """Where a batch run is, as given to a progress callback."""

    finished: int
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


@dataclass(frozen=True)
class Report:
    """The report of :meth:`Anonymizer.anonymize_tree`."""

    files: tuple[FileResult, ...]
    elapsed: float
    #: True when the run stopped before every file was processed.
    stopped: bool = False
    #: Temporary files (``.dicomveil-*.part``) left by an earlier, killed run in the folders
    #: this run wrote to, and removed.
    leftovers_removed: int = 0

    @property
    def done(self) -> list[FileResult]:
        """Files de-identified and written."""
        return [f for f in self.files if f.status == "done"]

    @property
    def refused(self) -> list[FileResult]:
        """DICOM files that could not be de-identified, each with its reason."""
        return [f for f in self.files if f.status == "refused"]

    @property
    def skipped(self) -> list[FileResult]:
        """Files that are not DICOM, and DICOMDIRs: not written."""
        return [f for f in self.files if f.status == "skipped"]

    @property
    def flagged(self) -> list[FileResult]:
        """Files with flags (e.g. possible burned-in annotation)."""
        return [f for f in self.files if f.flags]

    @property
    def bytes_in(self) -> int:
        return sum(f.bytes_in for f in self.files)

    @property
    def bytes_out(self) -> int:
        return sum(f.bytes_out for f in self.files)

    @property
    def ok(self) -> bool:
        """True when no file was refused and the run was not stopped."""
        return not self.refused and not self.stopped

    def summary(self) -> str:
        """One line: counts and throughput."""
        mb = self.bytes_in / 1e6
        rate = mb / self.elapsed if self.elapsed > 0 else 0.0
        files_rate = len(self.files) / self.elapsed if self.elapsed > 0 else 0.0
        flagged = f", {len(self.flagged)} flagged" if self.flagged else ""
        text = (
            f"{len(self.done)} done, {len(self.refused)} refused, {len(self.skipped)} skipped"
            f"{flagged} in {self.elapsed:.2f} s ({files_rate:.0f} files/s, {rate:.1f} MB/s)"
        )
        if self.stopped:
            text += " - stopped early"
        return text

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
                for r in self.files:
                    line = asdict(r)
                    line["flags"] = list(r.flags)
                    text = json.dumps(line, ensure_ascii=False)
                    try:
                        text.encode("utf-8")
                    except UnicodeEncodeError:  # undecodable bytes of a file name
                        text = json.dumps(line, ensure_ascii=True)
                    f.write(text + "\n")
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except OSError as e:
            os.unlink(tmp)
            raise FileAccessError(f"{target}: cannot write the audit log: {e.strerror}") from None

    @classmethod
    def _from_core(cls, raw: dict) -> Report:
        names = _COUNT_NAMES
        files = tuple(
            FileResult(
                src,
                dst,
                status,
                reason,
                error,
                bytes_in,
                bytes_out,
                dict(zip(names, counts, strict=True)),
                flags,
            )
            for src, dst, status, reason, error, bytes_in, bytes_out, counts, flags in raw["files"]
        )
        return cls(
            files=files,
            elapsed=raw["elapsed"],
            stopped=raw["stopped"],
            leftovers_removed=raw.get("leftovers_removed", 0),
        )
