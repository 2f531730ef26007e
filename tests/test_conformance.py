"""IOD conformance of the outputs: anonymizing adds no dciodvfy error to ten kinds of object.

For each object of ``iod_objects`` (GSPS, Comprehensive SR, RT Structure Set, RT Plan, Enhanced
CT, Enhanced MR, Encapsulated PDF, 12-lead ECG, Secondary Capture, US Multi-frame), under the
Basic profile, under each of the ten options alone and under all of them together, dciodvfy
(dicom3tools, an independent IOD checker) must report no Error line on the output that it did
not report on the input. Where Table E.1-1 removes (X) or empties (Z) an attribute the object's
IOD requires, the engine has to keep the IOD conformant (Type 1: a dummy, Type 2: zero length),
and the compound codes have to be resolved by the attribute's type; this is what the test
holds it to.

The inputs are checked too: their own dciodvfy errors must be exactly ``EXPECTED_INPUT_ERRORS``
(none today), so that the material stays good and a new error on the output cannot hide behind
one the input already had.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from dicomveil import Anonymizer, ConfidentialityProfile, ConfidentialityProfileOptions, DicomFile
from iod_objects import BUILDERS, write
from util import OPTION_COLUMNS, TEST_KEY, dciodvfy_errors

Options = ConfidentialityProfileOptions

# Locally the checks skip without dciodvfy; under CI (CI=true) they fail instead (conftest's
# pytest_sessionstart already stops the run, this keeps the module honest when run alone).
needs_dciodvfy = pytest.mark.skipif(
    shutil.which("dciodvfy") is None and os.environ.get("CI") != "true",
    reason="dciodvfy (dicom3tools) not installed",
)

#: The Basic profile, each of the ten options alone (with Basic, which they modify), and all.
#: The option of bit ``b`` is the column ``OPTION_COLUMNS[b]`` of Table E.1-1.
CONFIGS: dict[str, Options] = {
    "basic": Options.BASIC_PROFILE,
    **{Options(1 << b).name.lower(): Options.BASIC_PROFILE | Options(1 << b) for b in range(1, 11)},
    "all": Options.ALL,
}

#: dciodvfy Error lines each input is known to have, with the reason (values blanked as
#: ``dciodvfy_errors`` does). Empty: every object is valid on input.
EXPECTED_INPUT_ERRORS: dict[str, set[str]] = {name: set() for name in BUILDERS}


def test_configurations_cover_every_option() -> None:
    assert len(CONFIGS) == 12
    assert [Options(1 << b).name for b in range(11)] == [
        "BASIC_PROFILE",
        "RETAIN_SAFE_PRIVATE",
        "RETAIN_UIDS",
        "RETAIN_DEVICE_IDENT",
        "RETAIN_INSTITUTION_IDENT",
        "RETAIN_PATIENT_CHARS",
        "RETAIN_LONG_FULL_DATES",
        "RETAIN_LONG_MODIF_DATES",
        "CLEAN_DESC",
        "CLEAN_STRUCTD_CONT",
        "CLEAN_GRAPH",
    ]
    assert len(OPTION_COLUMNS) == 11


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, set[str], bool]]:
    """Each object written once, with its dciodvfy errors and whether dciodvfy read it all."""
    if shutil.which("dciodvfy") is None:
        pytest.fail("CI=true and dciodvfy (dicom3tools) not installed: apt-get install dicom3tools")
    folder = tmp_path_factory.mktemp("iod-objects")
    out = {}
    for name in BUILDERS:
        path = folder / f"{name}.dcm"
        write(name, path)
        errors, read_ok = dciodvfy_errors(path)
        out[name] = (path, errors, read_ok)
    return out


@pytest.fixture(scope="module")
def anonymizers() -> dict[str, Anonymizer]:
    return {
        config: Anonymizer(
            ConfidentialityProfile.create_default(options), key=TEST_KEY, burned_in="allow"
        )
        for config, options in CONFIGS.items()
    }


def raw_errors(path: Path, blanked: list[str]) -> list[str]:
    """dciodvfy's own Error lines (values and module names shown) among ``blanked`` ones."""
    proc = subprocess.run(
        ["dciodvfy", "-new", str(path)], capture_output=True, text=True, errors="replace"
    )
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.startswith("Error")]
    wanted = set(blanked)
    return [ln for ln in lines if re.sub(r"=\s*<[^<>]*>", "= <>", ln) in wanted]


@needs_dciodvfy
@pytest.mark.parametrize("name", list(BUILDERS))
def test_input_is_valid_for_dciodvfy(name: str, inputs) -> None:
    path, errors, read_ok = inputs[name]
    assert read_ok, f"dciodvfy could not read {name}: {sorted(errors)}"
    unexpected = sorted(errors - EXPECTED_INPUT_ERRORS[name])
    missing = sorted(EXPECTED_INPUT_ERRORS[name] - errors)
    assert not unexpected and not missing, (
        f"{name}: dciodvfy errors on the input differ from the expected ones\n"
        + "".join(f"  unexpected: {e}\n" for e in unexpected)
        + "".join(f"  expected but gone: {e}\n" for e in missing)
    )


@needs_dciodvfy
@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("name", list(BUILDERS))
def test_output_has_no_new_dciodvfy_error(
    name: str, config: str, inputs, anonymizers, tmp_path: Path
) -> None:
    path, before, read_ok = inputs[name]
    assert read_ok, f"dciodvfy could not read the input {name}"
    out = anonymizers[config].anonymize(DicomFile.open(str(path)))
    out_path = tmp_path / f"{name}-{config}.dcm"
    out_path.write_bytes(out.to_bytes())
    after, read_ok = dciodvfy_errors(out_path)
    assert read_ok, f"{name}/{config}: dciodvfy could not read the output: {sorted(after)}"
    new = sorted(after - before)
    assert not new, (
        f"{name}/{config} ({CONFIGS[config]!r}): {len(new)} new dciodvfy error(s)\n"
        + "".join(f"  {e}\n" for e in raw_errors(out_path, new))
    )
