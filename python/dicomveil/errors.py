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
    "ProfileError",
    "DicomValueError",
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


class BurnedInAnnotationWarning(UserWarning):
    """A de-identified file may carry burned-in annotation: its pixels need review."""


class FileAccessError(DicomveilError, OSError):
    """A file could not be opened, read, written or renamed."""


class ProfileError(DicomveilError, ValueError):
    """A confidentiality profile is malformed: names the source, the rule and the problem."""


class DicomValueError(DicomveilError, ValueError):
    """A value given for an element does not fit the element's VR."""
