"""Verify: a leak scan of de-identified output, run in the Rust engine.

>>> from dicomveil import verify
>>> report = verify("anonymized/", original="pacs-export/")
>>> report.ok, report.summary()

Findings name the file, the tag path and the kind of problem, never a value.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from typing import Literal, cast

from . import _core
from .profile import ConfidentialityProfile

__all__ = ["Finding", "FindingKind", "VerifyReport", "verify"]

#: What a finding is:
#:
#: - ``identity-not-removed``: (0012,0062) Patient Identity Removed is missing or not ``YES``;
#: - ``private-attribute``: a private attribute that the profile removes is present;
#: - ``not-removed``: an attribute that the profile removes is present;
#: - ``leak``: an identifying value of an original (name component, ID, birth date, accession
#:   number, institution, ...) was found in this element (only with ``original``);
#: - ``unreadable``: the output file is DICOM but could not be read;
#: - ``leftover``: a temporary file of dicomveil's (``.dicomveil-*.part``), left by a run that
#:   was killed while writing it (or by a run writing there now); delete it, or run again
#:   into the same folder, which removes it.
FindingKind = Literal[
    "identity-not-removed", "private-attribute", "not-removed", "leak", "unreadable", "leftover"
]


@dataclass(frozen=True, order=True)
class Finding:
    """One problem in one output file. Holds no value, only where and what."""

    #: The output file.
    file: str
    #: Tag path from the top level, e.g. ``"(0008,1140)[0] > (0010,0010)"``; empty when the
    #: whole file is concerned (``unreadable``, ``leftover``).
    path: str
    kind: FindingKind
    #: The tag the finding is about (the last of ``path``), as a number; None for
    #: ``unreadable`` and ``leftover``.
    tag: int | None = None
    #: That tag's keyword in the standard dictionary; None for a private or unknown tag.
    keyword: str | None = None

    def __str__(self) -> str:
        where = f"{self.file} {self.path}" if self.path else self.file
        return f"{where}: {self.kind}"


@dataclass(frozen=True)
class VerifyReport:
    """The result of :func:`verify`."""

    #: Every finding, sorted by file, then tag path.
    findings: tuple[Finding, ...]
    #: Files looked at under the output folder (files that are not DICOM, and DICOMDIRs,
    #: are looked at and pass; leftover temporary files are counted too).
    files_checked: int

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.findings

    @property
    def files_with_findings(self) -> int:
        """How many files have at least one finding."""
        return len({f.file for f in self.findings})

    def summary(self) -> str:
        """One line: files checked, and findings by kind."""
        checked = _count(self.files_checked, "file")
        if self.ok:
            return f"{checked} checked: no findings"
        by_kind = Counter(f.kind for f in self.findings)
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(by_kind.items()))
        return (
            f"{checked} checked: {_count(len(self.findings), 'finding')} in "
            f"{_count(self.files_with_findings, 'file')} ({kinds})"
        )


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def verify(
    out_dir: str | os.PathLike[str],
    original: str | os.PathLike[str] | None = None,
    profile: ConfidentialityProfile | None = None,
    workers: int | None = None,
) -> VerifyReport:
    """Scan de-identified output for what should not be there, in parallel in Rust.

    Without ``original``, every DICOM file under ``out_dir`` (or ``out_dir`` itself, when it
    is a file) must have PatientIdentityRemoved = YES, and hold no attribute, private or not,
    that ``profile`` removes. With ``original`` (a folder or file of the inputs), every
    identifying value of the originals is also searched for in every element of every output,
    any VR, private and nested included, pixel data excepted, as whole words, case- and
    accent-insensitively. A temporary file of dicomveil's (``.dicomveil-*.part``) under
    ``out_dir`` is a finding of kind ``leftover``: a run was killed while writing there.

    Args:
        out_dir: the de-identified output, a folder or one file.
        original: the inputs the output was made from.
        profile: the profile the output was made with; default: PS3.15 Basic profile.
        workers: threads; default: the available cores.

    Returns:
        a :class:`VerifyReport`; its findings never hold a value. The GIL is released for the
        whole scan.

    Raises:
        FileAccessError: a folder cannot be read.
    """
    if workers is not None and workers < 1:
        raise ValueError("workers must be at least 1")
    if profile is None:
        profile = ConfidentialityProfile.create_default()
    out = os.fspath(out_dir)
    orig = None if original is None else os.fspath(original)
    raw, files_checked = _core.verify(out, orig, profile._compile(), workers or 0)
    findings = tuple(
        sorted(
            Finding(str(file), str(path), cast(FindingKind, kind), tag, keyword)
            for file, path, kind, tag, keyword in raw
        )
    )
    return VerifyReport(findings=findings, files_checked=files_checked)
