"""Distributed runs on a Dask LocalCluster (2 worker processes): the same outputs, byte for
byte, and the same report as one machine; refused and skipped files merged once each; a worker
killed mid-run; a file that kills every worker it runs on; the key never shown; the CLI.

Skipped when Dask (``distributed``) is not installed.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")

import cloudpickle  # noqa: E402  (comes with distributed)
import dask  # noqa: E402
import dicomveil  # noqa: E402
import pydicom  # noqa: E402
from batch_tree import GOOD, hash_tree, make_tree, pydicom_file  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from dicomveil import (  # noqa: E402
    Anonymizer,
    ConfidentialityProfile,
    ConfidentialityProfileOptions,
    Progress,
    Pseudonym,
    Report,
    _core,
)
from dicomveil.cli import main  # noqa: E402
from dicomveil.distributed import (  # noqa: E402
    FILE_COST,
    _Job,
    _partition,
    _run_batch,
    _Secret,
    anonymize_tree_distributed,
)
from distributed import Client, LocalCluster, WorkerPlugin, get_task_stream  # noqa: E402

KEY = b"distributed-test-key: never-shown-4f1c9a"
REPO = Path(__file__).resolve().parent.parent

# the worker plugins below travel to the worker processes by value (they cannot import tests/)
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _load_corpus_module():
    spec = importlib.util.spec_from_file_location("bench_corpus", REPO / "benches" / "corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_series = _load_corpus_module().make_series


def new_cluster(**kwargs) -> LocalCluster:
    return LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        dashboard_address=":0",
        silence_logs=logging.ERROR,
        **kwargs,
    )


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with new_cluster() as c:
        yield c


@pytest.fixture(scope="module")
def client(cluster: LocalCluster) -> Iterator[Client]:
    with Client(cluster, set_as_default=False) as c:
        yield c


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """48 CT slices of 5 series in patient/series folders (small images: fast)."""
    return make_series(tmp_path_factory.mktemp("series") / "src", 48, 64)


def local_run(src: Path | str, dst: Path | str, **kwargs) -> Report:
    profile = kwargs.pop("profile", None)
    key = kwargs.pop("key", KEY)
    return Anonymizer(profile, key=key).anonymize_tree(src, dst, workers=1, **kwargs)


def rows(report: Report, dst: str | None = None, as_dst: str | None = None) -> list[tuple]:
    """Every field of every FileResult but nothing of the run (elapsed), destinations of
    ``dst`` shown as ``as_dst``."""

    def swap(text: str | None) -> str | None:
        if text is None or dst is None or as_dst is None:
            return text
        return text.replace(dst, as_dst)

    return [
        (
            f.source,
            swap(f.destination),
            f.status,
            swap(f.reason),
            f.error,
            f.bytes_in,
            f.bytes_out,
            f.counts,
            f.flags,
        )
        for f in report.files
    ]


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".dicomveil-" in p.name or p.suffix == ".part"]


# -- without a cluster: listing and batches ---------------------------------------------------
def test_listing_follows_the_engines_order(tmp_path: Path) -> None:
    src = tmp_path / "src"
    names = ["a.b", "a/x", "a/Y", "A", "b-c", "b/c", "é", "z/.dicomveil-1.part", "z/~tmp", "10"]
    for name in names:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(b"x" * len(name))
    (src / "link").symlink_to("a")
    files, sizes, links, unreadable = _core.list_tree(str(src), recursive=True)
    engine = local_run(src, tmp_path / "out")
    # the engine reports files in its listing order, the links among them in path order
    order = [Path(f.source).relative_to(src).as_posix() for f in engine.files]
    by_path = sorted(files + links, key=lambda p: [os.fsencode(c) for c in Path(p).parts])
    assert by_path == order
    assert [p for p in order if p != "link"] == files
    assert links == ["link"] and unreadable == []
    assert "z/.dicomveil-1.part" not in files
    assert sizes == [len(n) for n in files]
    assert _core.list_tree(str(src), recursive=False)[0] == ["10", "A", "a.b", "b-c", "é"]
    # our temporary files, by the engine's rule
    assert _core.is_temp_name(".dicomveil-1.part") and not _core.is_temp_name("~tmp")


def test_links_and_unlistable_folders_are_merged_in_path_order() -> None:
    """The engine puts what a listing set apart among a run's files, as in its own reports."""
    lines = _core.merge_report(
        ["s/a", "s/c/x", "s/d"],
        ["s/e", "s/b"],
        [("s/c/locked", "cannot list the folder: Permission denied (os error 13)")],
    )
    assert lines == [
        (1, "s/b", "skipped", "symbolic link: not followed", None),
        (
            1,
            "s/c/locked",
            "refused",
            "cannot list the folder: Permission denied (os error 13)",
            "FileAccessError",
        ),
        (3, "s/e", "skipped", "symbolic link: not followed", None),
    ]
    assert _core.merge_report(["s/a"], [], []) == []


def test_batches_are_contiguous_balanced_and_bounded() -> None:
    sizes = [100_000] * 50 + [5_000_000] * 4 + [1_000] * 300 + [0] * 10
    ranges = _partition(sizes, batch_bytes=2_000_000, batch_files=40, min_batches=8)
    assert ranges[0][0] == 0 and ranges[-1][1] == len(sizes)
    assert all(a < b for a, b in ranges)
    # contiguous, in order
    assert all(b == c for (_, b), (c, _) in zip(ranges, ranges[1:], strict=False))
    assert all(b - a <= 40 for a, b in ranges)
    costs = [sum(s + FILE_COST for s in sizes[a:b]) for a, b in ranges]
    biggest_file = max(sizes) + FILE_COST
    assert max(costs) <= 2_000_000 + biggest_file
    # few files: at least min_batches, at most one file each
    assert _partition([10] * 3, 10**9, 1000, 8) == [(0, 1), (1, 2), (2, 3)]
    assert len(_partition([10] * 100, 10**9, 1000, 8)) == 8
    assert _partition([], 10, 10, 8) == []
    assert [b - a for a, b in _partition([0] * 5, 10**9, 2, 1)] == [2, 1, 2]


def test_job_rebuilds_the_profile_with_its_markers() -> None:
    O = ConfidentialityProfileOptions  # noqa: E741
    # RETAIN_LONG_MODIF_DATES overrides every row of RETAIN_LONG_FULL_DATES: read back from
    # its rules alone, this profile would lose an option (and a marker code)
    prof = ConfidentialityProfile.create_default(
        O.RETAIN_LONG_FULL_DATES | O.RETAIN_LONG_MODIF_DATES | O.CLEAN_DESC
    )
    prof.patient_id = Pseudonym()
    prof.patient_name = "ANON^X"
    job = _Job.of(prof, **_job_fields())
    again = job.profile()
    assert again == prof and again.options == prof.options
    custom = ConfidentialityProfile.empty({"PatientName": "Z", "0010,0020": "X"})
    assert _Job.of(custom, **_job_fields()).profile() == custom
    # the Basic profile of the constructor travels as its options; with a rule on top, as
    # its rules (all of them: the Basic ones and the rule)
    basic = _Job.of(ConfidentialityProfile(), **_job_fields())
    assert basic.options == 1 and basic.rules is None
    assert basic.profile() == ConfidentialityProfile()
    on_top = ConfidentialityProfile({"StudyDescription": "K"})
    on_top.patient_name = "ANONYMOUS PATIENT"
    job = _Job.of(on_top, **_job_fields())
    assert job.options is None and job.rules is not None
    again = job.profile()
    assert again == on_top and len(again) == 623 and again["StudyDescription"] == "K"
    # carried out literally on the workers too, with the same unlisted setting
    for p in (prof, custom, on_top):
        p.conform_to_iod = False
        again = _Job.of(p, **_job_fields()).profile()
        assert again == p and again.conform_to_iod is False
        p.unlisted = "keep"
        again = _Job.of(p, **_job_fields()).profile()
        assert again == p and again.unlisted == "keep" and again._compile().unlisted == "keep"
    # the pixel settings travel too (the option bit with the options, the rules beside them)
    pix = ConfidentialityProfile.create_default(O.CLEAN_DESC | O.CLEAN_PIXEL_DATA)
    pix.pixel_rules = [("banner", 'Modality.equals("US")', "(0,0,640,40) (frame)")]
    again = _Job.of(pix, **_job_fields()).profile()
    assert again == pix and again.clean_pixel_data and again.pixel_rules == pix.pixel_rules
    pix.pixel_text_allow = ["@default", r"MI \d\.\d"]
    again = _Job.of(pix, **_job_fields(pixel_text="redact")).profile()
    assert again == pix and again.pixel_text_allow == ("@default", r"MI \d\.\d")
    # the rules travel without the settings, which travel beside them: a setting no profile
    # file can hold (surrounding spaces) still reaches the workers
    on_top.patient_id = " P-1 "
    job = _Job.of(on_top, **_job_fields())
    assert "P-1" not in (job.rules or "") and job.profile().patient_id == " P-1 "
    # the job says nothing of the key, which is not in it; the key's wrapper hides it
    assert "never-shown" not in repr(job) and "never-shown" not in repr(_Secret(KEY, None))


def _job_fields(**changes) -> dict:
    fields = dict(
        run="test",
        src="/nonexistent/src",
        dst="/nonexistent/dst",
        burned_in="warn",
        pixel_text="off",
        naming=None,
        stop_on_error=False,
        dry_run=False,
        threads=1,
        version=dicomveil.__version__,
    )
    fields.update(changes)
    return fields


# -- on the cluster: the same as one machine --------------------------------------------------
O = ConfidentialityProfileOptions  # noqa: E741


def _profiles() -> dict[str, ConfidentialityProfile | None]:
    custom = ConfidentialityProfile.load_from_json_file(
        REPO / "python/dicomveil/data/examples/custom_profile.json"
    )
    custom.patient_id = Pseudonym()
    custom.patient_name = "ANONYMIZED^PATIENT"
    options = ConfidentialityProfile.create_default(
        O.RETAIN_LONG_FULL_DATES | O.RETAIN_LONG_MODIF_DATES | O.CLEAN_DESC | O.RETAIN_UIDS
    )
    return {"default": None, "options": options, "custom": custom}


@pytest.mark.parametrize("name", ["default", "options", "custom"])
def test_outputs_are_byte_identical_to_one_machine(
    client: Client, series: Path, tmp_path: Path, name: str
) -> None:
    profile = _profiles()[name]
    local = local_run(series, tmp_path / "local", profile=profile)
    with get_task_stream(client) as stream:
        dist = anonymize_tree_distributed(
            series, tmp_path / "dist", client=client, profile=profile, key=KEY, batch_files=5
        )
    assert hash_tree(tmp_path / "dist") == hash_tree(tmp_path / "local")
    assert len(hash_tree(tmp_path / "dist")) == 48
    assert rows(dist, str(tmp_path / "dist"), str(tmp_path / "local")) == rows(local)
    assert type(dist) is Report and dist.ok and not dist.stopped
    # really spread: batches of at most 5 files, on both workers
    batches = [t for t in stream.data if "dicomveil-batch" in str(t["key"])]
    assert len(batches) >= 10
    assert len({t["worker"] for t in batches}) == 2


def test_key_file_read_on_the_workers_and_threads_per_batch(
    client: Client, series: Path, tmp_path: Path
) -> None:
    key_file = tmp_path / "site.key"
    key_file.write_bytes(KEY + b"\n")
    local = Anonymizer(key_file=key_file).anonymize_tree(series, tmp_path / "local")
    dist = anonymize_tree_distributed(
        series, tmp_path / "dist", client=client, key_file=key_file, threads_per_batch=2
    )
    assert hash_tree(tmp_path / "dist") == hash_tree(tmp_path / "local")
    assert [f.status for f in dist.files] == [f.status for f in local.files]


def test_without_a_key_every_worker_uses_the_same_one(
    client: Client, series: Path, tmp_path: Path
) -> None:
    anonymize_tree_distributed(series, tmp_path / "dist", client=client, batch_files=3)
    studies = {
        pydicom.dcmread(p).StudyInstanceUID for p in (tmp_path / "dist" / "p00000").rglob("*.dcm")
    }
    assert len(studies) == 1  # one patient's study: one new UID, whichever worker made it


def test_refused_and_skipped_files_merge_once_each(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    ct = pydicom_file("CT_small.dcm").read_bytes()
    (src / "a").mkdir()
    shutil.copyfile(pydicom_file("CT_small.dcm"), src / "a" / "ct.dcm")
    shutil.copyfile(pydicom_file("MR_small.dcm"), src / "a" / "mr.dcm")
    (src / "a" / "truncated.dcm").write_bytes(ct[: len(ct) * 2 // 3])
    (src / "notes.txt").write_text("exported from PACS\n")
    shutil.copyfile(pydicom_file("DICOMDIR"), src / "DICOMDIR")
    (src / "b").symlink_to("a")
    # relative paths: the report names files as the caller gave them, as a local run does
    monkeypatch.chdir(tmp_path)
    local = local_run("src", "local/")
    dist = anonymize_tree_distributed(
        "src", "dist/", client=client, key=KEY, batch_files=1, audit="audit.jsonl"
    )
    assert rows(dist, "dist/", "local/") == rows(local)
    assert [f.source for f in dist.files] == [
        "src/DICOMDIR",
        "src/a/ct.dcm",
        "src/a/mr.dcm",
        "src/a/truncated.dcm",
        "src/b",  # the link, in path order
        "src/notes.txt",
    ]
    assert [f.source for f in dist.refused] == ["src/a/truncated.dcm"]
    assert dist.refused[0].reason.startswith("src/a/truncated.dcm: ")
    assert dist.refused[0].error == "InvalidDicomError"
    assert {f.source for f in dist.skipped} == {"src/DICOMDIR", "src/notes.txt", "src/b"}
    assert not dist.ok and not dist.stopped
    assert len(Path("audit.jsonl").read_text().splitlines()) == 6
    assert hash_tree(tmp_path / "dist") == hash_tree(tmp_path / "local")


def test_the_batch_tree(client: Client, tmp_path: Path) -> None:
    """Every transfer syntax, bad files, a DICOMDIR: as one machine, in one batch per file."""
    tree = make_tree(tmp_path / "src")
    local = local_run(tree.root, tmp_path / "local")
    dist = anonymize_tree_distributed(
        tree.root, tmp_path / "dist", client=client, key=KEY, batch_files=1
    )
    assert rows(dist, str(tmp_path / "dist"), str(tmp_path / "local")) == rows(local)
    assert hash_tree(tmp_path / "dist") == hash_tree(tmp_path / "local")
    assert len(dist.refused) == len(tree.refused) and len(dist.done) == len(tree.good)


def test_one_file(client: Client, tmp_path: Path) -> None:
    src = pydicom_file("CT_small.dcm")
    local = local_run(src, tmp_path / "local.dcm")
    dist = anonymize_tree_distributed(src, tmp_path / "dist.dcm", client=client, key=KEY)
    assert (tmp_path / "dist.dcm").read_bytes() == (tmp_path / "local.dcm").read_bytes()
    assert rows(dist, "dist.dcm", "local.dcm") == rows(local)


def test_naming_collisions_across_batches(client: Client, tmp_path: Path) -> None:
    """MR_small in three transfer syntaxes: one instance, three inputs, three batches."""
    src = tmp_path / "src"
    for rel in ("1/mr", "2/mr_implicit", "3/mr_big"):
        (src / rel).parent.mkdir(parents=True)
    shutil.copyfile(pydicom_file("MR_small.dcm"), src / "1/mr")
    shutil.copyfile(pydicom_file("MR_small_implicit.dcm"), src / "2/mr_implicit")
    shutil.copyfile(pydicom_file("MR_small_bigendian.dcm"), src / "3/mr_big")
    naming = "{SOPInstanceUID}.dcm"
    local = local_run(src, tmp_path / "local", naming=naming)  # one thread: input order
    dist = anonymize_tree_distributed(
        src, tmp_path / "dist", client=client, key=KEY, naming=naming, batch_files=1
    )
    assert [f.status for f in dist.files] == ["done", "refused", "refused"]
    assert rows(dist, str(tmp_path / "dist"), str(tmp_path / "local")) == rows(local)
    assert dist.refused[0].reason == (
        f"naming: its output name {dist.done[0].destination} is already taken by "
        f"{src / '1/mr'} (the same instance twice?)"
    )
    # on disk: the output of the first input, whichever batch finished last
    assert hash_tree(tmp_path / "dist") == hash_tree(tmp_path / "local")


def test_on_error_stop_and_raise(client: Client, tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "src")
    with pytest.raises(dicomveil.InvalidDicomError, match="not a valid DICOM file"):
        anonymize_tree_distributed(
            tree.root, tmp_path / "raise", client=client, key=KEY, on_error="raise"
        )
    report = anonymize_tree_distributed(
        tree.root, tmp_path / "stop", client=client, key=KEY, on_error="stop", batch_files=1
    )
    assert report.refused and not report.ok
    # whatever was written is in the report, and the other way round
    written = {p.relative_to(tmp_path / "stop").as_posix() for p in (tmp_path / "stop").rglob("*")}
    written = {w for w in written if (tmp_path / "stop" / w).is_file()}
    assert written == {
        Path(f.destination).relative_to(tmp_path / "stop").as_posix() for f in report.done
    }
    assert not leftovers(tmp_path / "stop")


def test_dry_run_and_progress(client: Client, series: Path, tmp_path: Path) -> None:
    seen: list[Progress] = []
    report = anonymize_tree_distributed(
        series, tmp_path / "dry", client=client, key=KEY, dry_run=True, progress=seen.append
    )
    assert not (tmp_path / "dry").exists()
    assert len(report.done) == 48
    assert seen[-1] == Progress(48, 48, 0, report.bytes_in)
    assert [p.finished for p in seen] == sorted(p.finished for p in seen)


def test_an_interruption_waits_for_the_batches_running(
    client: Client, series: Path, tmp_path: Path
) -> None:
    class Stop(Exception):
        pass

    def progress(p: Progress) -> None:
        if p.finished:
            raise Stop  # as Ctrl-C would, after the first batch

    with pytest.raises(Stop) as info:
        anonymize_tree_distributed(
            series, tmp_path / "out", client=client, key=KEY, batch_files=2, progress=progress
        )
    report = info.value.report
    assert report.stopped and 0 < len(report.done) < 48
    # every file written is in the report, complete
    written = {p for p in (tmp_path / "out").rglob("*") if p.is_file()}
    assert written == {Path(f.destination) for f in report.done}
    assert not leftovers(tmp_path / "out")


def test_the_client_holds_the_destination_lock_and_removes_leftovers(
    client: Client, series: Path, tmp_path: Path
) -> None:
    """The client holds the lock of ``dst`` for the whole run (the batches take none): a run
    into ``dst`` meanwhile is refused. At the end, the temporary files of a killed run in the
    folders written to are removed and counted."""
    dst = tmp_path / "out"
    with dicomveil._core.RunLock(dst):
        with pytest.raises(dicomveil.DestinationBusyError, match="in use by another"):
            anonymize_tree_distributed(series, dst, client=client, key=KEY)
        # a dry run takes no lock
        assert anonymize_tree_distributed(series, dst, client=client, key=KEY, dry_run=True).ok
    rel = next(p for p in sorted(series.rglob("*")) if p.is_file()).relative_to(series)
    leftover = dst / rel.parent / ".dicomveil-killed.part"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"half a file")
    refused: list[BaseException] = []

    def progress(p: Progress) -> None:
        if not refused:
            try:
                local_run(series, dst)
            except dicomveil.DestinationBusyError as e:
                refused.append(e)

    report = anonymize_tree_distributed(series, dst, client=client, key=KEY, progress=progress)
    assert refused and str(refused[0]).startswith(f"{dst / '.dicomveil.lock'}: ")
    assert report.ok and len(report.done) == 48
    assert report.leftovers_removed == 1 and not leftover.exists()
    assert not (dst / ".dicomveil.lock").exists()


def test_bad_destinations_are_refused(client: Client, series: Path) -> None:
    with pytest.raises(ValueError, match="in place"):
        anonymize_tree_distributed(series, series, client=client, key=KEY)
    with pytest.raises(dicomveil.DicomValueError, match="inside the source folder"):
        anonymize_tree_distributed(series, series / "out", client=client, key=KEY)
    with pytest.raises(dicomveil.DicomValueError, match="is inside the destination"):
        anonymize_tree_distributed(series, series.parent, client=client, key=KEY)
    with pytest.raises(ValueError, match="key or key_file"):
        anonymize_tree_distributed(series, "/x", client=client, key=KEY, key_file="/k")
    with pytest.raises(ValueError, match="batch_files"):
        anonymize_tree_distributed(series, "/x", client=client, batch_files=0)


# -- the key is never shown -------------------------------------------------------------------
def test_the_key_is_never_in_task_names_reports_or_logs(
    client: Client, series: Path, tmp_path: Path
) -> None:
    secret = KEY.decode()
    with get_task_stream(client) as stream:
        report = anonymize_tree_distributed(
            series, tmp_path / "out", client=client, key=secret, audit=tmp_path / "audit.jsonl"
        )
    keys = [str(t["key"]) for t in stream.data]
    assert keys and all("never-shown" not in k and KEY.hex() not in k for k in keys)
    assert "never-shown" not in repr(report) and "never-shown" not in report.summary()
    assert b"never-shown" not in (tmp_path / "audit.jsonl").read_bytes()
    # a failing batch: Dask logs its task (some versions with its arguments' repr)
    job = _Job.of(ConfidentialityProfile.create_default(), **_job_fields(run="failing"))
    future = client.submit(_run_batch, job, _Secret(KEY, None), ["a.dcm"], key="failing-batch")
    with pytest.raises(dicomveil.FileAccessError):
        future.result()
    logs = client.get_worker_logs()
    text = "\n".join(line for lines in logs.values() for _, line in lines)
    assert "Compute Failed" in text and "failing-batch" in text
    assert "never-shown" not in text
    assert "never-shown" not in "\n".join(line for _, line in client.get_scheduler_logs())


# -- lost workers -----------------------------------------------------------------------------
class KillOnce(WorkerPlugin):
    """Kills its worker process the first time (across workers: a marker file) a batch runs,
    as soon as the batch is writing a file (or after 0.2 s)."""

    name = "kill-once"

    def __init__(self, marker: str, watch: str) -> None:
        self.marker = marker
        self.watch = watch

    def transition(self, key, start, finish, **kwargs) -> None:
        if finish != "executing" or "dicomveil-batch" not in str(key):
            return
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        threading.Thread(target=self._kill, args=(fd,), daemon=True).start()

    def _kill(self, fd: int) -> None:
        deadline = time.monotonic() + 0.2
        how = "after 0.2 s"
        while time.monotonic() < deadline and how != "mid-write":
            for _, _, names in os.walk(self.watch):
                if any(n.endswith(".part") for n in names):
                    how = "mid-write"
                    break
        os.write(fd, how.encode())
        os.close(fd)
        os._exit(1)


class KillOnKeys(WorkerPlugin):
    """Kills its worker every time a task whose key matches ``pattern`` starts."""

    name = "kill-on-keys"

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern

    def transition(self, key, start, finish, **kwargs) -> None:
        if finish == "executing" and re.search(self.pattern, str(key)):
            os._exit(1)


def test_a_worker_killed_mid_run(tmp_path: Path) -> None:
    src = make_series(tmp_path / "src", 32, 512)  # 512 KiB files: writing takes a while
    local_run(src, tmp_path / "local")
    marker = tmp_path / "killed"
    with new_cluster() as cluster, Client(cluster, set_as_default=False) as client:
        before = set(client.nthreads())
        client.register_plugin(KillOnce(str(marker), str(tmp_path / "dist")))
        report = anonymize_tree_distributed(src, tmp_path / "dist", client=client, key=KEY)
        client.wait_for_workers(2, timeout=60)
        after = set(client.nthreads())
    assert marker.exists(), "the plugin never ran"
    assert before - after, "no worker was lost"
    # complete and correct, each file once, no temporary file left behind
    assert hash_tree(tmp_path / "dist") == hash_tree(tmp_path / "local")
    sources = [f.source for f in report.files]
    assert len(sources) == len(set(sources)) == 32
    assert report.ok and len(report.done) == 32
    assert not leftovers(tmp_path / "dist")


def test_a_file_that_kills_every_worker_is_refused_alone(tmp_path: Path) -> None:
    src = make_series(tmp_path / "src", 32, 32)
    local = local_run(src, tmp_path / "local")
    # batch 0 (files 0-3) kills its worker; cut in parts, the part of file 2 does, and so does
    # file 2 run alone at the end. Other batches on the killed workers are run again.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with new_cluster() as cluster, Client(cluster, set_as_default=False) as client:
            client.register_plugin(KillOnKeys(r"-batch-\w+-(0|0\.2|0\.2\.alone)$"))
            report = anonymize_tree_distributed(
                src, tmp_path / "dist", client=client, key=KEY, batch_files=4
            )
    sources = [f.source for f in report.files]
    assert sources == [f.source for f in local.files]  # each file once, in input order
    poison = local.files[2].source
    assert [f.source for f in report.refused] == [poison]
    refused = report.refused[0]
    assert refused.error == "KilledWorker" and refused.reason.startswith(f"{poison}: ")
    assert len(report.done) == 31
    expected = hash_tree(tmp_path / "local")
    del expected[Path(local.files[2].destination).relative_to(tmp_path / "local").as_posix()]
    assert hash_tree(tmp_path / "dist") == expected


# -- the command line -------------------------------------------------------------------------
@pytest.fixture
def good_tree(tmp_path: Path) -> Path:
    root = tmp_path / "good"
    for rel, name in GOOD.items():
        if name in ("MR_small_implicit.dcm", "MR_small_bigendian.dcm"):
            continue  # the same instance as MR_small
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(pydicom_file(name), root / rel)
    return root


def test_cli_scheduler(cluster: LocalCluster, good_tree: Path, tmp_path: Path) -> None:
    key_file = tmp_path / "key.txt"
    key_file.write_bytes(KEY + b"\n")

    def run(*args: str | Path) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "dicomveil", "anonymize", *map(str, args)]
        # an unreachable scheduler fails after 3 s, not Dask's default 30 s
        env = dict(os.environ, DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT="3s")
        return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)

    local = run(good_tree, tmp_path / "local", "--key-file", key_file, "-q")
    assert local.returncode == 0, local.stderr
    address = cluster.scheduler_address
    dist = run(good_tree, tmp_path / "dist", "--key-file", key_file, "--scheduler", address)
    assert dist.returncode == 0, dist.stderr
    assert "dicomveil: 8 done, 0 refused" in dist.stderr
    assert KEY.decode() not in dist.stderr + dist.stdout
    assert hash_tree(tmp_path / "dist") == hash_tree(tmp_path / "local")
    # refused files: exit code 1, as locally
    tree = make_tree(tmp_path / "tree")
    bad = run(tree.root, tmp_path / "bad", "--key-file", key_file, "--scheduler", address)
    assert bad.returncode == 1 and "refused: " in bad.stderr
    # usage errors
    assert run(good_tree, "--in-place", "--scheduler", address).returncode == 2
    assert run(good_tree, tmp_path / "w", "--workers", "2", "--scheduler", address).returncode == 2
    unreachable = run(good_tree, tmp_path / "x", "--scheduler", "tcp://127.0.0.1:9", "-q")
    assert unreachable.returncode == 1
    assert "cannot connect to the Dask scheduler" in unreachable.stderr


def test_cli_scheduler_without_dask(
    good_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    result = CliRunner().invoke(
        main, ["anonymize", str(good_tree), str(tmp_path / "out"), "--scheduler", "tcp://x:1"]
    )
    assert result.exit_code == 2
    assert "pip install 'dask[distributed]>=2024.1'" in result.output
    assert not (tmp_path / "out").exists()


_LIST_SCRIPT = """
import json, sys
from dicomveil import _core, FileAccessError
try:
    print(json.dumps(_core.list_tree(sys.argv[1], True)))
except FileAccessError as e:
    print(json.dumps({"error": str(e)}))
"""


def _list_unprivileged(src: Path) -> object:
    """The engine's listing, from a process that folder permissions apply to (root's
    capabilities dropped)."""
    import json

    cmd = [sys.executable, "-c", _LIST_SCRIPT, str(src)]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root without setpriv: cannot make a folder unreadable")
        drop = "-dac_override,-dac_read_search"
        cmd = ["setpriv", f"--inh-caps={drop}", f"--bounding-set={drop}", *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out)


@pytest.mark.skipif(sys.platform == "win32", reason="folder permissions")
def test_an_unreadable_sub_folder_is_listed_as_such(tmp_path: Path) -> None:
    """As in a local run: a sub-folder that cannot be listed is set apart (to be reported
    refused) and the rest of the tree is listed; only the top folder unreadable is fatal."""
    src = tmp_path / "src"
    for name in ["a/1.dcm", "locked/2.dcm", "z/3.dcm"]:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(b"x")
    (src / "locked").chmod(0)
    try:
        files, sizes, links, unreadable = _list_unprivileged(src)  # type: ignore[misc]
    finally:
        (src / "locked").chmod(0o755)
    assert files == ["a/1.dcm", "z/3.dcm"] and sizes == [1, 1] and links == []
    assert unreadable == [["locked", "cannot list the folder: Permission denied (os error 13)"]]
    src.chmod(0)
    try:
        result = _list_unprivileged(src)
    finally:
        src.chmod(0o755)
    assert isinstance(result, dict) and "cannot list" in result["error"]


# -- the checks of a local run, before any task -----------------------------------------------
def _refused_alike(client: Client, src: Path, dst: Path, **kwargs) -> BaseException:
    """The error of a local run and of a distributed one with the same arguments: the same
    class and message, and no task ran nor anything was written."""

    def written() -> list[Path] | None:
        return sorted(dst.rglob("*")) if dst.is_dir() else None

    before = written()
    with pytest.raises(dicomveil.DicomveilError) as local:
        local_run(src, dst, **kwargs)
    with get_task_stream(client) as stream:
        with pytest.raises(dicomveil.DicomveilError) as dist:
            anonymize_tree_distributed(src, dst, client=client, key=KEY, **kwargs)
    assert type(dist.value) is type(local.value)
    assert str(dist.value) == str(local.value)
    assert not [t for t in stream.data if "dicomveil-batch" in str(t["key"])]
    assert written() == before and (dst.is_dir() or dst.exists() == (dst == src))
    return dist.value


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{NoSuchKeyword}.dcm", "not a DICOM keyword"),
        ("{SOPInstanceUID.dcm", "unbalanced braces"),
        ("x}/{SOPInstanceUID}.dcm", "unbalanced braces"),
        ("fixed.dcm", "no {Keyword} field"),
        ("../{SOPInstanceUID}.dcm", "relative path"),
        ("/abs/{SOPInstanceUID}.dcm", "relative path"),
        ("a//{SOPInstanceUID}.dcm", "relative path"),
    ],
)
def test_a_malformed_naming_template_is_refused_before_any_task(
    client: Client, series: Path, tmp_path: Path, template: str, problem: str
) -> None:
    error = _refused_alike(client, series, tmp_path / "out", naming=template)
    assert isinstance(error, dicomveil.NamingTemplateError) and isinstance(error, ValueError)
    assert problem in str(error)


@pytest.mark.parametrize(
    ("where", "code"),
    [
        ("src/audit.jsonl", "audit-inside-source"),
        ("folder", "audit-is-folder"),
        ("no/such/audit.jsonl", "audit-folder-missing"),
        ("one-file output", "audit-over-output"),
        ("one-file input", "audit-over-source"),
    ],
)
def test_an_audit_path_a_local_run_refuses_is_refused(
    client: Client, series: Path, tmp_path: Path, where: str, code: str
) -> None:
    src, dst = series, tmp_path / "out"
    one = next(iter(sorted(series.rglob("*.dcm"))))
    audit = {
        "src/audit.jsonl": series / "audit.jsonl",
        "folder": tmp_path,
        "no/such/audit.jsonl": tmp_path / "no" / "such" / "audit.jsonl",
        "one-file output": tmp_path / "out.dcm",
        "one-file input": one,
    }[where]
    if where.startswith("one-file"):
        src, dst = one, tmp_path / "out.dcm"
    before = hash_tree(series)
    error = _refused_alike(client, src, dst, audit=audit)
    assert isinstance(error, dicomveil.PathError) and error.code == code
    assert isinstance(error, dicomveil.FileAccessError)  # as audit path errors were
    assert str(error).startswith(f"{audit}: ")
    assert hash_tree(series) == before and not (series / "audit.jsonl").exists()


def test_destinations_a_local_run_refuses_are_refused_alike(client: Client, series: Path) -> None:
    inside = _refused_alike(client, series, series / "out")
    assert isinstance(inside, dicomveil.PathError) and inside.code == "destination-inside-source"
    assert "inside the source folder" in str(inside)
    around = _refused_alike(client, series, series.parent)
    assert isinstance(around, dicomveil.PathError) and around.code == "source-inside-destination"
    assert "is inside the destination" in str(around)
    # a one-file run into its own folder: its output would be its input
    one = next(iter(sorted(series.rglob("*.dcm"))))
    itself = _refused_alike(client, one, one.parent)
    assert isinstance(itself, dicomveil.PathError) and itself.code == "output-is-source"
