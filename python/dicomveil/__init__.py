"""dicomveil: de-identify DICOM files by the PS3.15 confidentiality profiles, fast.

>>> from dicomveil import DicomFile, Anonymizer
>>> f = DicomFile.open("input.dcm")
>>> out = Anonymizer(key=b"a long site secret").anonymize(f)  # f is unchanged
>>> out.save("anonymized.dcm")
"""

from . import ocr
from ._core import __version__
from .anonymizer import Anonymizer
from .errors import (
    BurnedInAnnotationError,
    BurnedInAnnotationWarning,
    DestinationBusyError,
    DicomValueError,
    DicomveilError,
    FileAccessError,
    InvalidDicomError,
    NamingTemplateError,
    NotDicomError,
    OcrUnavailableError,
    PathError,
    PixelDataError,
    ProfileError,
    RefusedByProfileError,
    UnsupportedDicomError,
    UnsupportedTransferSyntaxError,
    WeakKeyWarning,
    WeakProfileWarning,
)
from .file import DicomFile
from .leakscan import Finding, VerifyReport, verify
from .pixels import (
    PixelBox,
    PixelLayout,
    PixelRule,
    load_pixel_rules,
    parse_pixel_rules,
    starter_pixel_rules,
)
from .profile import (
    EDITION,
    Action,
    ConfidentialityProfile,
    ConfidentialityProfileOptions,
    ResolvedRule,
    ValueAction,
)
from .pseudonym import Pseudonym
from .report import FileResult, Progress, Report

__all__ = [
    "BurnedInAnnotationError",
    "PixelDataError",
    "RefusedByProfileError",
    "BurnedInAnnotationWarning",
    "Pseudonym",
    "PixelBox",
    "PixelLayout",
    "PixelRule",
    "load_pixel_rules",
    "parse_pixel_rules",
    "starter_pixel_rules",
    "Action",
    "ValueAction",
    "Anonymizer",
    "ConfidentialityProfile",
    "ConfidentialityProfileOptions",
    "DestinationBusyError",
    "DicomFile",
    "DicomValueError",
    "DicomveilError",
    "EDITION",
    "FileAccessError",
    "InvalidDicomError",
    "NotDicomError",
    "OcrUnavailableError",
    "NamingTemplateError",
    "PathError",
    "FileResult",
    "Finding",
    "Progress",
    "ProfileError",
    "Report",
    "ResolvedRule",
    "UnsupportedDicomError",
    "UnsupportedTransferSyntaxError",
    "VerifyReport",
    "WeakKeyWarning",
    "WeakProfileWarning",
    "__version__",
    "ocr",
    "verify",
]
