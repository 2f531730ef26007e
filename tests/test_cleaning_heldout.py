"""Issue 17, "Measure it honestly": the labelled set of tests/data/cleaning/ and the figures of
its two held-out parts, which a regression of the cleaning breaks.

Held-out part 1 (heldout.jsonl) is not looked at while the engine is tuned: nothing here prints
one of its texts, only counts. Held-out part 2 (heldout2.jsonl) was written later, before its
writer read the engine; it was measured once unseen (docs/cleaning.md has those first figures)
and then used for fixes, so its figures below are no longer an unseen measure. Tune on
tests/data/cleaning/tune.jsonl (``python tests/cleaning_eval.py --part tune --misses`` lists
what was left there). ``pytest -s`` prints the figures of every part. When the engine gets
better, move the recorded figures below (and the tables in docs/cleaning.md) to what it
achieves, in the same commit; never past them the other way.
"""

from __future__ import annotations

from collections import Counter

import cleaning_eval as ev
import pytest
from dicomveil import Action, Anonymizer, ConfidentialityProfile

# The held-out part as it was when its figures were recorded (a part that grew or shrank would
# make the thresholds mean something else: re-record them with the new part).
HELDOUT_SIZE = {
    "items": 347,
    "clean": 178,
    "identifiers": {
        "date": 62,
        "name": 60,
        "name_by_cue": 95,
        "phone": 19,
        "email": 13,
        "url": 9,
        "id": 24,
    },
}

# What the engine achieves today on the held-out part (after the recognizers of issue 17:
# dates, contacts and IDs, people by cue, name variants, and their tuning on branch clean17):
# identifiers left per kind, and identifier-free texts kept byte for byte. A regression leaves
# more or keeps fewer. (Before the recognizers, at 30b357e: 215 left of 282, 176 kept; before
# clean17, at 30243da: 5 left, 174 kept.)
HELDOUT_LEFT_AT_MOST = {
    "date": 1,
    "name": 0,
    "name_by_cue": 2,
    "phone": 0,
    "email": 0,
    "url": 0,
    "id": 0,
}
HELDOUT_KEPT_AT_LEAST = 178  # of 178 (100 %)

# Held-out part 2 as written (ids h2-LANG-NNN), and what the engine achieves on it. First
# measured unseen at ae2d04f: 9 left (date 2, name_by_cue 4, phone 2, id 1), 293 of 297 kept;
# then its misses were read and their classes fixed (with tuning items t2-LANG-NNN).
HELDOUT2_SIZE = {
    "items": 495,
    "clean": 297,
    "identifiers": {
        "date": 59,
        "name": 30,
        "name_by_cue": 107,
        "phone": 19,
        "email": 6,
        "url": 7,
        "id": 31,
    },
}
HELDOUT2_LEFT_AT_MOST = dict.fromkeys(ev.KINDS, 0)
HELDOUT2_KEPT_AT_LEAST = 297  # of 297 (100 %)

RECORDED = {
    "heldout": (HELDOUT_SIZE, HELDOUT_LEFT_AT_MOST, HELDOUT_KEPT_AT_LEAST),
    "heldout2": (HELDOUT2_SIZE, HELDOUT2_LEFT_AT_MOST, HELDOUT2_KEPT_AT_LEAST),
}

# The goal of issue 17 on the held-out parts.
GOAL_LEFT = dict.fromkeys(ev.KINDS, 0)
GOAL_KEPT_PERCENT = 95.0


@pytest.fixture(scope="module")
def parts() -> dict[str, list[dict]]:
    return {part: ev.load(part) for part in ev.PARTS}


@pytest.fixture(scope="module")
def figures(parts: dict[str, list[dict]]) -> dict[str, ev.Figures]:
    anonymizer = ev.make_anonymizer()
    out = {part: ev.evaluate(items, part, anonymizer) for part, items in parts.items()}
    print()
    for fig in out.values():
        print(ev.report(fig))
    for part, (size, left, kept) in RECORDED.items():
        print(
            f"{part} goal (issue 17): {sum(GOAL_LEFT.values())} identifiers left, at least "
            f"{GOAL_KEPT_PERCENT:.0f} % of identifier-free texts kept; recorded today: "
            f"{sum(left.values())} left, {kept} of {size['clean']} kept"
        )
    return out


# ---------------------------------------------------------------------------------------------
# The set itself
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("part", ev.PARTS)
def test_each_item_is_well_formed_and_in_the_part_its_hash_gives(parts, part) -> None:
    assert ev.problems(parts[part], part) == []


def test_ids_and_texts_are_unique_across_the_parts(parts) -> None:
    everything = [item for part in ev.PARTS for item in parts[part]]
    ids = Counter(item["id"] for item in everything)
    assert [i for i, n in ids.items() if n > 1] == []
    # a text in both parts would be tuned on and reported on
    texts = Counter(item["text"] for item in everything)
    assert sum(1 for n in texts.values() if n > 1) == 0


def test_the_set_is_large_varied_and_about_half_identifier_free(parts) -> None:
    # the two parts split by the hash; the second held-out part is checked on its own below
    everything = [item for part in ev.HASHED_PARTS for item in parts[part]]
    assert len(everything) >= 400
    clean = sum(1 for item in everything if not item["identifiers"])
    assert 0.4 <= clean / len(everything) <= 0.6
    langs = Counter(item["lang"] for item in everything)
    assert set(langs) == set(ev.LANGS) and min(langs.values()) >= 50
    share = len(parts["heldout"]) / len(everything)
    assert abs(share - ev.HELDOUT_PERCENT / 100) < 0.05
    for part, items in parts.items():
        kinds = Counter(s["kind"] for item in items for s in item["identifiers"])
        assert set(kinds) == set(ev.KINDS), part


def test_the_split_is_the_hash_of_the_id() -> None:
    """part_of is a pure function of the id: what decides the split is fixed here."""
    got = [ev.part_of(f"en-{n:03d}") for n in range(1, 11)]
    assert got == ["tune", "heldout", "tune", "tune", "heldout"] + [
        "heldout",
        "tune",
        "tune",
        "heldout",
        "tune",
    ]


@pytest.mark.parametrize("part", sorted(RECORDED))
def test_the_heldout_part_is_the_one_the_figures_were_recorded_on(parts, part) -> None:
    items = parts[part]
    kinds = Counter(s["kind"] for item in items for s in item["identifiers"])
    assert {
        "items": len(items),
        "clean": sum(1 for item in items if not item["identifiers"]),
        "identifiers": {k: kinds[k] for k in ev.KINDS},
    } == RECORDED[part][0]


def test_the_second_heldout_part_is_varied_and_apart(parts) -> None:
    items = parts["heldout2"]
    assert all(item["id"].startswith("h2-") for item in items)
    langs = Counter(item["lang"] for item in items)
    assert set(langs) == set(ev.LANGS) and min(langs.values()) >= 40
    clean = sum(1 for item in items if not item["identifiers"])
    assert 0.4 <= clean / len(items) <= 0.7
    kinds = Counter(s["kind"] for item in items for s in item["identifiers"])
    assert set(kinds) == set(ev.KINDS)


# ---------------------------------------------------------------------------------------------
# The measure: its two extremes, on the tuning part
# ---------------------------------------------------------------------------------------------

HOLDERS = (
    "ContentSequence",
    "GraphicAnnotationSequence",
    "WaveformAnnotationSequence",
    "StructureSetROISequence",
    "RTROIObservationsSequence",
)


def _profile_with(parts_items: list[dict], action: Action) -> ConfidentialityProfile:
    """A profile that applies ``action`` to every attribute holding a text of the set."""
    profile = ConfidentialityProfile.empty()
    for keyword in {item["attribute"] for item in parts_items} | set(HOLDERS):
        profile[keyword] = action
    profile.unlisted = "keep"
    profile.conform_to_iod = False
    return profile


def _anonymizer_with(items: list[dict], action: Action) -> Anonymizer:
    return Anonymizer(_profile_with(items, action), key=ev.KEY, burned_in="allow")


# weaker than the Basic profile on purpose: its warning is expected
WEAK = pytest.mark.filterwarnings("ignore::dicomveil.WeakProfileWarning")


@WEAK
def test_a_profile_that_keeps_the_texts_leaves_every_identifier_and_keeps_every_text(
    parts,
) -> None:
    items = parts["tune"]
    anonymizer = _anonymizer_with(items, Action.K)
    fig = ev.evaluate(items, "tune", anonymizer)
    assert fig.total_identifiers > 0 and fig.total_left == fig.total_identifiers
    assert fig.clean > 0 and fig.kept == fig.clean


@WEAK
def test_a_profile_that_removes_the_texts_leaves_nothing_and_keeps_nothing(parts) -> None:
    items = parts["tune"]
    anonymizer = _anonymizer_with(items, Action.X)
    fig = ev.evaluate(items, "tune", anonymizer)
    assert fig.total_left == 0
    assert fig.kept == 0


# ---------------------------------------------------------------------------------------------
# The figures
# ---------------------------------------------------------------------------------------------


def test_the_tuning_part_is_measured(figures) -> None:
    """Printed with the held-out figures; not asserted (it is tuned on)."""
    fig = figures["tune"]
    assert fig.items == len(ev.load("tune"))


@pytest.mark.parametrize("part", sorted(RECORDED))
def test_heldout_identifiers_left_do_not_regress(figures, part) -> None:
    fig = figures[part]
    left = {k: fig.left[k] for k in ev.KINDS}
    at_most = RECORDED[part][1]
    worse = {k: (left[k], n) for k, n in at_most.items() if left[k] > n}
    assert worse == {}, f"more identifiers left than recorded (left, recorded): {worse}"


@pytest.mark.parametrize("part", sorted(RECORDED))
def test_heldout_identifier_free_texts_kept_do_not_regress(figures, part) -> None:
    fig = figures[part]
    kept = RECORDED[part][2]
    assert fig.kept >= kept, f"{fig.kept} of {fig.clean} identifier-free texts kept, {kept} wanted"


def test_the_second_heldout_part_meets_the_goal(figures) -> None:
    fig = figures["heldout2"]
    assert {k: fig.left[k] for k in ev.KINDS} == GOAL_LEFT
    assert fig.kept_percent >= GOAL_KEPT_PERCENT
