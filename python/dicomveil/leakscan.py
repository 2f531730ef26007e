"""Verify: a leak scan of de-identified output, run in the Rust engine.

>>> from dicomveil import verify
>>> report = verify("anonymized/", original="pacs-export/")
>>> report.ok, report.summary()

Findings name the file, the tag path and the kind of problem, never a value.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, cast

from . import _core, ocr
from .errors import DicomveilError, NotDicomError, OcrUnavailableError
from .file import DicomFile
from .profile import ConfidentialityProfile

__all__ = ["Finding", "FindingKind", "PixelScope", "VerifyReport", "pixel_findings", "verify"]

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
#:   into the same folder, which removes it;
#: - ``pixel-text``: OCR found text in the pixels that the allow-list does not cover (only
#:   with ``pixels``): the finding has the frame, the box and the text's class, never the
#:   text;
#: - ``pixels-unchecked``: the file was to be read by OCR and a frame cannot be decoded
#:   (only with ``pixels``).
FindingKind = Literal[
    "identity-not-removed",
    "private-attribute",
    "not-removed",
    "leak",
    "unreadable",
    "leftover",
    "pixel-text",
    "pixels-unchecked",
]

#: Which files ``verify(..., pixels=...)`` reads by OCR: ``"burned-in"`` (``True``) those
#: that may carry burned-in text (BurnedInAnnotation YES, or a secondary capture, ultrasound
#: or visible-light image whatever its BurnedInAnnotation says: a NO may be one dicomveil
#: wrote after blanking what it was told to), ``"all"`` every file with pixel data.
PixelScope = Literal["burned-in", "all"]

#: The tag of the pixel-text and pixels-unchecked findings.
_PIXEL_DATA = 0x7FE00010


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
    #: For ``pixel-text``: the frame (0-based), the box ``(x, y, w, h)`` in pixels and what
    #: the text looks like (:data:`dicomveil.ocr.TextClass`: ``identifying``, ``name``,
    #: ``date``, ``id``, ``other``); None otherwise.
    frame: int | None = None
    box: tuple[int, int, int, int] | None = None
    text_class: str | None = None

    def __str__(self) -> str:
        where = f"{self.file} {self.path}" if self.path else self.file
        what = f" ({self.text_class})" if self.text_class else ""
        return f"{where}: {self.kind}{what}"


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
    pixels: bool | PixelScope = False,
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
        pixels: also read the pixels by OCR (``True`` or ``"burned-in"``: the files that may
            carry burned-in text, see :data:`PixelScope`; ``"all"``: every file with pixel
            data). Every distinct frame is read (identical frames once); text the profile's
            allow-list (:attr:`ConfidentialityProfile.pixel_text_allow`) does not cover is a
            ``pixel-text`` finding, classed ``identifying`` when it holds an identifying
            value of the originals. Needs ``dicomveil[ocr]``.

    Returns:
        a :class:`VerifyReport`; its findings never hold a value. The GIL is released for the
        whole scan.

    Raises:
        FileAccessError: a folder cannot be read.
        OcrUnavailableError: ``pixels`` and tesserocr or its English model is missing.
    """
    if workers is not None and workers < 1:
        raise ValueError("workers must be at least 1")
    if pixels not in (False, True, "burned-in", "all"):
        raise ValueError("pixels must be False, True, 'burned-in' or 'all'")
    if pixels:
        problem = ocr._engine_problem()
        if problem is not None:
            raise OcrUnavailableError(f"verify --pixels: {problem}")
    if profile is None:
        profile = ConfidentialityProfile.create_default()
    out = os.fspath(out_dir)
    orig = None if original is None else os.fspath(original)
    raw, files_checked = _core.verify(out, orig, profile._compile(), workers or 0)
    found = [
        Finding(str(file), str(path), cast(FindingKind, kind), tag, keyword)
        for file, path, kind, tag, keyword in raw
    ]
    if pixels:
        scope: PixelScope = "all" if pixels == "all" else "burned-in"
        found += pixel_findings(out, orig, profile, scope, workers)
    findings = tuple(sorted(found))
    return VerifyReport(findings=findings, files_checked=files_checked)


def _dicom_files(root: str) -> Iterator[DicomFile]:
    """The DICOM files under ``root`` (or ``root`` itself), opened (bulk values stay in the
    files); files that are not DICOM, dicomveil's temporary files and files that cannot be
    read (the engine's scan reports those) are passed over."""
    if os.path.isfile(root):
        paths: Iterator[str] = iter([root])
    else:
        paths = (
            os.path.join(folder, name)
            for folder, _, names in os.walk(root)
            for name in sorted(names)
            if not _core.is_temp_name(name)
        )
    for path in paths:
        try:
            yield DicomFile.open(path)
        except (NotDicomError, DicomveilError, OSError):
            continue


def _identifying(original: str | None) -> frozenset[str]:
    """Every identifying word of the originals (normalized), by the engine's gathering."""
    if original is None:
        return frozenset()
    words: set[str] = set()
    for f in _dicom_files(original):
        words.update(f._ds.identifying_words())
    return frozenset(w for w in words if len(w) >= 2)


def pixel_findings(
    out_dir: str | os.PathLike[str],
    original: str | os.PathLike[str] | None = None,
    profile: ConfidentialityProfile | None = None,
    scope: PixelScope = "burned-in",
    workers: int | None = None,
) -> list[Finding]:
    """The ``pixel-text`` and ``pixels-unchecked`` findings of ``verify(..., pixels=...)``:
    OCR of every distinct frame of the files in ``scope``, in parallel threads (Tesseract
    reads without the GIL)."""
    profile = profile if profile is not None else ConfidentialityProfile.create_default()
    allow = ocr.AllowList(profile.pixel_text_allow)
    identifying = _identifying(None if original is None else os.fspath(original))

    def check(f: DicomFile) -> list[Finding]:
        ds = f._ds
        if not ds.has_pixel_data():
            return []
        if scope == "burned-in" and not ds.may_carry_burned_in(trust_no=False):
            return []
        try:
            found = ocr.find_text(f, allow, identifying)
        except OcrUnavailableError:
            raise
        except DicomveilError:
            return [Finding(f.name, "(7FE0,0010)", "pixels-unchecked", _PIXEL_DATA, "PixelData")]
        return [
            Finding(
                f.name,
                f"(7FE0,0010) frame {r.frame} ({r.x},{r.y},{r.w},{r.h})",
                "pixel-text",
                _PIXEL_DATA,
                "PixelData",
                r.frame,
                r.box,
                r.text_class,
            )
            for r in found.runs
        ]

    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        return [x for found in pool.map(check, _dicom_files(os.fspath(out_dir))) for x in found]
