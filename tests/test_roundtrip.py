"""An empty ConfidentialityProfile changes nothing but the markers and the meta group.

Group-length elements (gggg,0000) outside the meta are expected to be dropped here too: once
markers are added their old values would be wrong, and the brief drops them unconditionally.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ANONYMIZED_CORPUS, anonymize_file, corpus_id
from util import (
    MARKER_TAGS,
    TEST_KEY,
    check_markers,
    diff_datasets,
    fragments,
    model_anonymize,
    transfer_syntax_of,
    uid_strings,
)


def keep_everything(tag: int) -> str:
    return "K"


@pytest.mark.parametrize("path", ANONYMIZED_CORPUS, ids=[corpus_id(p) for p in ANONYMIZED_CORPUS])
def test_empty_profile_reproduces_every_value(path: Path):
    r = anonymize_file(path, profile="empty")
    ds_in, ds_out = r.ds_in, r.ds_out
    expected = model_anonymize(ds_in, TEST_KEY, keep_everything, remove_private=False)
    problems = diff_datasets(expected, ds_out, ignore_top=MARKER_TAGS)
    assert not problems, f"{corpus_id(path)}: {len(problems)} differences\n" + "\n".join(
        problems[:40]
    )

    # a profile without rules is weaker than the Basic profile: Patient Identity Removed NO,
    # unless the file said YES already (de-identified before: the record stays)
    earlier = ds_in.get("PatientIdentityRemoved") == "YES"
    assert check_markers(ds_out, basic=False, removed=earlier) == []
    assert ds_out.file_meta.TransferSyntaxUID == transfer_syntax_of(ds_in)
    if "SOPInstanceUID" in ds_in:
        uid = uid_strings(ds_in["SOPInstanceUID"])
        assert uid_strings(ds_out["SOPInstanceUID"]) == uid
        assert [ds_out.file_meta.MediaStorageSOPInstanceUID] == uid
    if "PixelData" in ds_in:
        assert ds_out.PixelData == ds_in.PixelData
        assert fragments(ds_out) == fragments(ds_in)
    # private elements are kept, and with them their creators (the diff above compares them)
    assert [int(t) for t in ds_out.keys() if t.is_private] == [
        int(t) for t in ds_in.keys() if t.is_private and t.element != 0
    ]
    # nothing the input did not have, except the markers
    assert {int(t) for t in ds_out.keys()} - {int(t) for t in ds_in.keys()} <= MARKER_TAGS
