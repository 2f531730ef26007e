"""Clean Pixel Data: pixel rules (which files, which regions of their pixels to blank) and the
frame API (decoded frames out as numpy arrays, boxes to blank back in).

A pixel rule is a selector on the file's header values, in the expression grammar of CTP's
DicomPixelAnonymizer (``Modality.equals("US") * Manufacturer.containsIgnoreCase("ACME")``),
and regions: rectangles ``(x,y,w,h)`` in pixel coordinates, ``frame`` (the whole frame) or
``outside-us-regions`` (everything outside the Sequence of Ultrasound Regions). Written as
one text, a rule is ``name: { selector } regions``; a CTP script is a list of rules
``{ selector } (x,y,w,h) ...`` with comments. See docs/pixels.md.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from . import _core
from .errors import ProfileError

if TYPE_CHECKING:  # numpy is needed by the frame API only
    import numpy as np

    from .file import DicomFile

__all__ = [
    "STARTER_RULES",
    "PixelBox",
    "PixelLayout",
    "PixelRule",
    "load_pixel_rules",
    "parse_pixel_rules",
    "starter_pixel_rules",
]

#: The starter catalogue shipped with dicomveil: rules that need no device's coordinates
#: (ultrasound outside its regions, scanned documents and screen captures whole).
STARTER_RULES = os.path.join(os.path.dirname(__file__), "data", "pixel_rules_starter.script")


class PixelRule(NamedTuple):
    """One pixel rule: ``name`` (for reports), ``when`` (the selector, CTP's expression
    grammar) and ``regions`` (``(x,y,w,h)`` rectangles separated by spaces, ``frame`` or
    ``outside-us-regions``)."""

    name: str
    when: str
    regions: str

    @classmethod
    def parse(cls, text: str) -> PixelRule:
        """A rule from its one-line text ``name: { selector } regions`` (the name and its
        colon are optional), as the profile files hold it."""
        start, end = text.find("{"), text.rfind("}")
        if start < 0 or end < start:
            raise ProfileError(
                f"pixel rule {_clip(text)}: expected 'name: {{ selector }} regions', e.g. "
                "'banner: { Modality.equals(\"US\") } (0,0,640,40)'"
            )
        name = text[:start].strip().removesuffix(":").strip()
        return cls(name, text[start + 1 : end].strip(), text[end + 1 :].strip())

    def text(self) -> str:
        """The rule as one line: ``name: { selector } regions``."""
        name = f"{self.name}: " if self.name else ""
        return f"{name}{{ {self.when} }} {self.regions}"


def _clip(text: str, n: int = 60) -> str:
    return repr(text if len(text) <= n else text[: n - 3] + "...")


RuleLike = PixelRule | tuple[str, str, str] | str


def _rule(r: RuleLike) -> PixelRule:
    if isinstance(r, PixelRule):
        return r
    if isinstance(r, str):
        return PixelRule.parse(r)
    if isinstance(r, tuple) and len(r) == 3 and all(isinstance(x, str) for x in r):
        return PixelRule(*r)
    raise TypeError(
        "a pixel rule is a PixelRule, a (name, when, regions) tuple of str or its text "
        f"'name: {{ selector }} regions', not {type(r).__name__}"
    )


def compile_rules(rules: Iterable[RuleLike], source: str = "") -> tuple[_core.PixelRules, tuple]:
    """Check rules with the engine: (the engine's rules, the rules as PixelRule)."""
    checked = tuple(_rule(r) for r in rules)
    return _core.PixelRules([(r.name, r.when, r.regions) for r in checked], source), checked


def parse_pixel_rules(text: str, source: str = "<string>") -> list[PixelRule]:
    """The rules of a CTP DicomPixelAnonymizer script (``{ selector } (x,y,w,h) ...``)."""
    engine = _core.PixelRules.from_ctp_script(text, source)
    return [PixelRule(*r) for r in engine.rules()]


def load_pixel_rules(path: str | os.PathLike[str]) -> list[PixelRule]:
    """The rules of a CTP DicomPixelAnonymizer script file (UTF-8)."""
    from . import profile_io

    where = os.fspath(path)
    return parse_pixel_rules(profile_io.read_text_file(path), where)


def starter_pixel_rules() -> list[PixelRule]:
    """The rules of the starter catalogue (:data:`STARTER_RULES`); add your devices' rules
    before them."""
    return load_pixel_rules(STARTER_RULES)


class PixelBox(NamedTuple):
    """A region to blank, from the frame API: a rectangle in pixel coordinates of frame
    ``frame`` (0-based), or of every frame when ``frame`` is None."""

    x: int
    y: int
    w: int
    h: int
    frame: int | None = None


def box_tuples(boxes: Iterable[PixelBox | tuple[int, ...]] | None) -> list[tuple]:
    """Boxes as the engine takes them: (frame or None, x, y, w, h)."""
    out = []
    for b in boxes or ():
        box = b if isinstance(b, PixelBox) else PixelBox(*b)
        for v in box[:4]:
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"box {tuple(box)}: x, y, w, h are non-negative ints")
        if box.frame is not None and (not isinstance(box.frame, int) or box.frame < 0):
            raise ValueError(f"box {tuple(box)}: frame is a non-negative int or None")
        out.append((box.frame, box.x, box.y, box.w, box.h))
    return out


@dataclass(frozen=True)
class PixelLayout:
    """How a file's frames are laid out: its native pixel data, or the decoded frames of its
    compressed pixel data (``DicomFile.pixel_layout``)."""

    rows: int
    columns: int
    frames: int
    samples: int
    planar: bool
    bits_allocated: int
    bits_stored: int
    high_bit: int
    signed: bool
    photometric: str
    big_endian: bool
    float: bool

    @property
    def dtype(self) -> str:
        """The numpy dtype of one sample (``'<u2'``, ``'>i2'``, ``'u1'``, ``'<f4'``...)."""
        if self.bits_allocated == 1:
            return "u1"
        kind = "f" if self.float else ("i" if self.signed else "u")
        size = self.bits_allocated // 8
        order = "" if size == 1 else (">" if self.big_endian else "<")
        return f"{order}{kind}{size}"


def layout_of(f: DicomFile) -> PixelLayout:
    return PixelLayout(**f._ds.pixel_layout())


def frame_array(f: DicomFile, index: int) -> np.ndarray:
    """Frame ``index`` as a numpy array: (rows, columns) for one sample, (rows, columns, 3)
    for color (planar configuration and YBR 4:2:2 pixel pairs undone), the stored values with
    no rescale, LUT or color conversion; 1-bit pixels as 0/1 bytes."""
    import numpy as np

    lay = layout_of(f)
    data = f._ds.frame(index)
    arr = np.frombuffer(data, dtype=lay.dtype)
    r, c = lay.rows, lay.columns
    if lay.samples == 1:
        return arr.reshape(r, c)
    if lay.photometric.endswith("_422"):
        pairs = arr.reshape(r, c // 2, 4)
        out = np.empty((r, c, 3), dtype=arr.dtype)
        out[:, 0::2, 0] = pairs[:, :, 0]
        out[:, 1::2, 0] = pairs[:, :, 1]
        out[:, :, 1] = np.repeat(pairs[:, :, 2], 2, axis=1)
        out[:, :, 2] = np.repeat(pairs[:, :, 3], 2, axis=1)
        return out
    if lay.planar:
        return arr.reshape(lay.samples, r, c).transpose(1, 2, 0).copy()
    return arr.reshape(r, c, lay.samples)


def iter_frames(f: DicomFile) -> Iterator[np.ndarray]:
    for i in range(layout_of(f).frames):
        yield frame_array(f, i)
