"""Exceptions raised by dicomveil.

Every error dicomveil raises is a :class:`DicomveilError`. Messages name the file and the
problem; they never contain patient data or keys.
"""

from __future__ import annotations

__all__ = [
    "DicomveilError",
    "InvalidDicomError",
    "NotDicomError",
    "UnsupportedTransferSyntaxError",
    "UnsupportedDicomError",
    "FileAccessError",
    "BurnedInAnnotationError",
    "BurnedInAnnotationWarning",
    "PixelDataError",
    "RefusedByProfileError",
    "OcrUnavailableError",
    "ProfileError",
    "DicomValueError",
    "NamingTemplateError",
    "PathError",
    "DestinationBusyError",
    "WeakKeyWarning",
    "WeakProfileWarning",
    "error_class",
]


class DicomveilError(Exception):
    """Base class of every error raised by dicomveil."""


class InvalidDicomError(DicomveilError, ValueError):
    """The input is not DICOM, or is malformed (truncated, lengths past the end, bad items)."""


class NotDicomError(InvalidDicomError):
    """The input is not DICOM at all (no DICM prefix and no recognisable dataset); an empty
    file is not DICOM either. Batch runs skip such files instead of refusing them."""


class UnsupportedTransferSyntaxError(InvalidDicomError):
    """The file's transfer syntax is not one dicomveil can read."""


class UnsupportedDicomError(DicomveilError):
    """A valid file that dicomveil does not process (for example a DICOMDIR)."""


class BurnedInAnnotationError(DicomveilError):
    """The file may carry burned-in annotation (text in its pixels) and the Anonymizer was
    created with ``burned_in="refuse"``."""


class PixelDataError(DicomveilError):
    """Clean Pixel Data applies to the file (a pixel rule matched it, or boxes were given) and
    its pixels cannot be cleaned: compressed pixel data of a syntax no codec here cleans
    (JPEG-LS, progressive JPEG) or that does not decode, a layout that is not supported, or one
    that does not fit the pixel data. The file is refused, never written uncleaned."""


class RefusedByProfileError(DicomveilError):
    """A rule of the profile refuses the file: a value action says ``@skip()`` or
    ``@quarantine()`` (CTP's way to keep a file out), ``@lookup`` finds no key for the file in
    the lookup table, or a computed value does not fit its attribute's VR. The file is not
    written; the message names it and the rule, never a value."""


class BurnedInAnnotationWarning(UserWarning):
    """A de-identified file may carry burned-in annotation: its pixels need review."""


class WeakKeyWarning(UserWarning):
    """The key is short enough to be guessed (fewer than 16 bytes): every replacement made
    with it could be recomputed."""


class WeakProfileWarning(UserWarning):
    """The profile treats some attributes of PS3.15 Table E.1-1 more weakly than the Basic
    profile and every option allow (a custom profile that keeps, say, Patient's Name):
    outputs say NO in (0012,0062) Patient Identity Removed. The message names them."""


class FileAccessError(DicomveilError, OSError):
    """A file could not be opened, read, written or renamed."""


class ProfileError(DicomveilError, ValueError):
    """A confidentiality profile is malformed: names the source, the rule and the problem."""


class DicomValueError(DicomveilError, ValueError):
    """A value given for an element does not fit the element's VR."""


class NamingTemplateError(DicomValueError):
    """A naming template is malformed (unbalanced braces, an unknown keyword, no field, an
    absolute or ``..`` path), or a file's output name made from it cannot be used."""


class PathError(DicomValueError, FileAccessError):
    """A path given to a run cannot be used as asked: a destination inside the source (or
    the source inside it), an output that would overwrite its input, an audit log over an
    input or an output, a listed file outside the source. Raised before any file is touched.

    It is both a :class:`DicomValueError` (what such errors were raised as before) and a
    :class:`FileAccessError` (what audit log path errors were raised as).
    """

    #: What is wrong, as a stable name (``"destination-inside-source"``,
    #: ``"audit-inside-source"``, ...) when the engine's check of a run's paths raised it, for
    #: callers that word the problem their own way; None otherwise.
    code: str | None = None


class DestinationBusyError(FileAccessError):
    """Another run is writing into the destination: it holds the destination's lock (the file
    ``.dicomveil.lock`` in it). The message names the lock file and the holder (pid, host,
    start time). Raised before any file is touched; run again when the other run has ended,
    or write elsewhere."""


def error_class(kind: str | None) -> type[DicomveilError]:
    """The exception class of an error kind: the class name the engine gives each error (the
    ``error`` of a refused :class:`~dicomveil.FileResult`). An unknown kind (``KilledWorker``
    of a distributed run, say) is a :class:`DicomveilError`."""
    cls = globals().get(kind or "")
    if isinstance(cls, type) and issubclass(cls, DicomveilError):
        return cls
    return DicomveilError


class OcrUnavailableError(DicomveilError):
    """Text in the pixels is to be found (``Anonymizer(..., pixel_text="redact")``,
    ``verify(..., pixels=True)``) and the OCR engine cannot run: tesserocr or its English
    model is not installed (``pip install 'dicomveil[ocr]'``). A file that needed it is
    refused, never written uncleaned."""
