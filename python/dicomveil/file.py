"""DicomFile: a DICOM file held in memory, with element access for simple values."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

from . import _core
from .pixels import PixelLayout, frame_array, iter_frames, layout_of

if TYPE_CHECKING:
    import numpy as np

__all__ = ["DicomFile", "TagKey", "resolve_tag"]

#: How an element is named: keyword, int tag (0x00100010), (group, element), or "gggg,eeee".
TagKey = str | int | tuple[int, int]


def resolve_tag(key: TagKey) -> int:
    """The 32-bit tag for a keyword, int, (group, element) pair or ``"gggg,eeee"`` string."""
    if isinstance(key, bool):
        raise TypeError("a tag cannot be a bool")
    if isinstance(key, int):
        if not 0 <= key <= 0xFFFFFFFF:
            raise KeyError(f"not a tag: {key:#x}")
        return key
    if isinstance(key, tuple) and len(key) == 2 and all(isinstance(x, int) for x in key):
        group, element = key
        if not (0 <= group <= 0xFFFF and 0 <= element <= 0xFFFF):
            raise KeyError(f"not a tag: {key!r}")
        return (group << 16) | element
    if isinstance(key, str):
        tag = _core.keyword_to_tag(key)
        if tag is not None:
            return tag
        text = key.strip().strip("()").replace(",", "").replace(" ", "")
        if len(text) == 8:
            try:
                return int(text, 16)
            except ValueError:
                pass
        raise KeyError(f"unknown keyword or tag: {key!r}")
    raise TypeError(f"a tag is a keyword, an int or a (group, element) pair, not {key!r}")


class DicomFile:
    """A DICOM file in memory.

    Values are held as the file encodes them. A file of up to 256 KiB is read whole; in a
    larger one, pixel data and other bulk values (4 KiB or more) are not loaded but read from
    the file, which stays open, when written or asked for (so the file should not change while
    a DicomFile made from it is in use). Element access covers simple values:
    text VRs (including DS, IS, DA, TM, UI) as ``str`` (a ``list`` when multi-valued), binary
    numbers as ``int``/``float``, OB/OW/UN as ``bytes``, sequences as a list of
    ``{tag: value}`` dicts.
    """

    __slots__ = ("_ds", "_pixels")

    def __init__(self, dataset: _core.Dataset) -> None:
        self._ds = dataset
        self._pixels: str | None = None

    @classmethod
    def open(
        cls, source: str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO
    ) -> DicomFile:
        """Read a DICOM file from a path, from bytes, or from a binary file object.

        Reads Part 10 files (preamble, meta group) and bare datasets without them.

        Raises:
            InvalidDicomError: the input is not DICOM or is malformed (names file and problem).
            UnsupportedTransferSyntaxError: the transfer syntax is unknown.
            FileAccessError: the path cannot be read.
        """
        if isinstance(source, (str, os.PathLike)):
            return cls(_core.Dataset.open_path(os.fspath(source)))
        if isinstance(source, (bytes, bytearray, memoryview)):
            return cls(_core.Dataset.open_bytes(bytes(source), "<bytes>"))
        if hasattr(source, "read"):
            data = source.read()
            if not isinstance(data, (bytes, bytearray)):
                raise TypeError("the file object must be opened in binary mode")
            name = getattr(source, "name", None)
            return cls(_core.Dataset.open_bytes(bytes(data), str(name) if name else "<stream>"))
        raise TypeError(f"cannot open {type(source).__name__}: give a path, bytes or a binary file")

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write a Part 10 file in this file's transfer syntax, atomically (temp file + rename)."""
        self._ds.save(os.fspath(path))

    def to_bytes(self) -> bytes:
        """The Part 10 file as bytes."""
        return self._ds.to_bytes()

    def copy(self) -> DicomFile:
        """An independent copy (bulk values still read from the same source)."""
        out = DicomFile(self._ds.copy())
        out._pixels = self._pixels
        return out

    # -- pixels (the frame API) ---------------------------------------------------------------
    @property
    def pixel_layout(self) -> PixelLayout:
        """How the frames are laid out (rows, columns, frames, samples, bits, photometric
        interpretation, byte order): those of the native pixel data, or for compressed pixel
        data those of its decoded frames (little endian, samples of a pixel together, and
        ``photometric`` what the decoder gives: RGB for YBR JPEG and JPEG 2000 with a
        component transform).

        Raises:
            PixelDataError: no pixel data, a compressed syntax dicomveil does not decode
                (named), or a layout that is not supported or does not fit the pixel data.
        """
        return layout_of(self)

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` (0-based) as a numpy array: ``(rows, columns)``, or ``(rows,
        columns, 3)`` for color (planar configuration and YBR 4:2:2 pairs undone); stored
        values, no rescale, LUT or color conversion; 1-bit pixels as 0 or 1. Only that frame
        is read, and of compressed pixel data (RLE, JPEG Baseline, 8-bit Extended and
        Lossless, JPEG-LS, JPEG 2000) only that frame is decoded: as the decoder gives it (YBR
        JPEG as RGB, see :attr:`pixel_layout`), signed samples sign-extended. Needs numpy.

        Raises:
            PixelDataError: as :attr:`pixel_layout`, or the frame does not decode (why).
            FileAccessError: ``index`` is not a frame of the file.
        """
        return frame_array(self, index)

    def frames(self) -> Iterator[np.ndarray]:
        """Every frame in turn, as :meth:`frame` gives it (one frame in memory at a time)."""
        return iter_frames(self)

    @property
    def pixel_handling(self) -> str | None:
        """What Clean Pixel Data did to the pixels when this file was last de-identified
        (``"cleaned by rule 1 (...)"``, ``"no rule matched"``...), or None."""
        return self._pixels

    @property
    def transfer_syntax_uid(self) -> str:
        """The transfer syntax the file is read and written in."""
        return self._ds.transfer_syntax_uid

    @property
    def name(self) -> str:
        """The path it was read from, or ``<bytes>``."""
        return self._ds.name

    def vr(self, key: TagKey) -> str:
        """The VR of a top-level element."""
        vr = self._ds.vr(resolve_tag(key))
        if vr is None:
            raise KeyError(key)
        return vr

    def get(self, key: TagKey, default: Any = None) -> Any:
        """The value of a top-level element, or ``default`` when absent."""
        try:
            return self[key]
        except KeyError:
            return default

    def set(self, key: TagKey, value: Any, vr: str | None = None) -> None:
        """Set a top-level element, giving its VR (needed for tags the dictionary lacks)."""
        self._ds.set(resolve_tag(key), value, vr)

    def __getitem__(self, key: TagKey) -> Any:
        tag = resolve_tag(key)
        if not self._ds.contains(tag):
            raise KeyError(key)
        return self._ds.get(tag)

    def __setitem__(self, key: TagKey, value: Any) -> None:
        self._ds.set(resolve_tag(key), value, None)

    def __delitem__(self, key: TagKey) -> None:
        if not self._ds.delete(resolve_tag(key)):
            raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        try:
            return self._ds.contains(resolve_tag(key))  # type: ignore[arg-type]
        except (KeyError, TypeError):
            return False

    def __iter__(self) -> Iterator[int]:
        return iter(self._ds.tags())

    def __len__(self) -> int:
        return len(self._ds)

    def dump(self, max_len: int = 64) -> str:
        """A readable listing of every element (nested, with VRs); shows values."""
        return self._ds.dump(max_len)

    def keywords(self) -> list[str]:
        """Keywords (or ``(gggg,eeee)`` for unknown tags) of the top-level elements."""
        return [_core.tag_to_keyword(t) or _core.format_tag(t) for t in self._ds.tags()]

    def __repr__(self) -> str:
        # no values: a repr must never show patient data
        return (
            f"<DicomFile {self.name!r} transfer_syntax={self.transfer_syntax_uid} "
            f"elements={len(self)}>"
        )
