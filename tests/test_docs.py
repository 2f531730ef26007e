"""Every code block of the README and of docs/*.md, run as written: the docs cannot drift.

Each fenced block names its language, and what the language is decides what is checked:

- ``python``: run; the blocks of one page share one namespace, in order, as a reader who
  pastes them one after the other would have it;
- ``sh``: run with bash (``set -e``), the blocks of a page in one folder, in order;
- ``console``: each ``$ command`` is run; the lines under it are its documented output, which
  must appear in what it prints (stdout and stderr), in order; ``...`` stands for any text
  (a whole line of it: any number of lines);
- ``json`` / ``xml`` / ``csv``: parsed; a profile (rules or settings) is loaded by the loader
  of its format, a JSON Lines block (the audit log) line by line;
- ``text``: not code (a synopsis, printed output, a listing); a text block marked
  ``pixel-rules`` is parsed as pixel rules.

A block runs in a folder that holds the files the docs name as placeholders (``input.dcm``,
``export/``, ``site.key``, ``my_profile.csv``...; see :func:`sandbox`). An HTML comment on
the line before a block changes what is done with it:

- ``<!-- doctest: skip: REASON -->``: not run, for what a test must not do (build or install
  a wheel, run the benchmarks or the test script, reach a Dask scheduler or a package index);
  the reason is shown as the test's skip reason;
- ``<!-- doctest: exit N -->``: every command of the block exits with N (default 0);
- ``<!-- doctest: pixel-rules -->``: a ``text`` block that is a pixel rule script.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from dicomveil import Anonymizer, ConfidentialityProfile, parse_pixel_rules
from dicomveil.cli import _OPTION_NAMES, main

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DATA = ROOT / "examples" / "data"
LANGUAGES = {"python", "sh", "console", "json", "xml", "csv", "text"}

FENCE = re.compile(r"^(`{3,})(\S*)\s*$")
MARK = re.compile(r"^<!--\s*doctest:\s*(.*?)\s*-->\s*$")


@dataclass
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    marks: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.page.name}:{self.line}"

    def mark(self, name: str) -> str | None:
        """The value of a mark (``exit 1`` -> ``1``, ``skip: why`` -> ``why``), or None."""
        for m in self.marks:
            key, _, value = m.partition(":" if m.startswith("skip") else " ")
            if key.strip() == name:
                return value.strip()
        return None


def blocks_of(page: Path) -> list[Block]:
    """The fenced blocks of a Markdown page, with the marks on the lines before each."""
    out: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang = m.group(1), m.group(2)
        marks = []
        j = i - 1
        while j >= 0 and (not lines[j].strip() or MARK.match(lines[j])):
            mark = MARK.match(lines[j])
            if mark:
                marks.append(mark.group(1))
            j -= 1
        end = i + 1
        while end < len(lines) and lines[end].rstrip() != fence:
            end += 1
        out.append(Block(page, i + 1, lang, "\n".join(lines[i + 1 : end]) + "\n", marks))
        i = end + 1
    return out


ALL_BLOCKS = [b for page in PAGES for b in blocks_of(page)]


def test_every_block_says_its_language() -> None:
    """A block without a language would be silently passed over: each names one we check."""
    bad = [f"{b.id} ({b.lang or 'none'})" for b in ALL_BLOCKS if b.lang not in LANGUAGES]
    assert not bad, f"blocks without a language this test knows ({sorted(LANGUAGES)}): {bad}"


def test_marks_are_known() -> None:
    known = ("skip:", "exit ", "pixel-rules")
    bad = [f"{b.id}: {m}" for b in ALL_BLOCKS for m in b.marks if not m.startswith(known)]
    assert not bad


# -- the sandbox ------------------------------------------------------------------------------
KEY = b"a documentation example key, 32+ bytes long\n"


def _tree(at: Path) -> None:
    """A small export: every sample, one in a sub-folder, and a file that is not DICOM."""
    at.mkdir(parents=True)
    for f in DATA.iterdir():
        shutil.copy(f, at / f.name)
    (at / "some").mkdir()
    # another instance (new UIDs): a sample copied would be the same instance twice
    Anonymizer(key=b"another instance for the docs' sandbox").anonymize_file(
        DATA / "ct_explicit_le.dcm", at / "some" / "file.dcm"
    )
    (at / "notes.txt").write_text("not DICOM\n")


def sandbox(at: Path) -> Path:
    """The placeholder files and folders the docs name, made of the shipped samples."""
    at.mkdir(parents=True, exist_ok=True)
    for name in ("export", "pacs-export", "us_export"):
        _tree(at / name)
    for name in ("input.dcm", "in.dcm", "scan.dcm"):
        shutil.copy(DATA / "ct_explicit_le.dcm", at / name)
    shutil.copy(DATA / "us_rgb_explicit_be.dcm", at / "us.dcm")
    for name in ("site.key", "project.key", "key.bin", "k"):
        (at / name).write_bytes(KEY)
    examples = ROOT / "python" / "dicomveil" / "data" / "examples"
    shutil.copy(examples / "custom_profile.csv", at / "my_profile.csv")
    shutil.copy(examples / "custom_profile.xml", at / "my_profile.xml")
    shutil.copy(examples / "options_profile.csv", at / "table.csv")
    shutil.copy(
        ROOT / "python" / "dicomveil" / "data" / "pixel_rules_starter.script", at / "sites.script"
    )
    return at


def _env() -> dict[str, str]:
    """The installed package's commands first on PATH, no colour, a wide terminal."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "200"
    env.pop("PYTHONWARNINGS", None)
    return env


@pytest.fixture(scope="module")
def pages_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("docs")


def _page_state(pages_dir: Path, page: Path) -> tuple[Path, dict]:
    """One folder and one Python namespace per page, made at its first block."""
    where = pages_dir / page.stem
    state = _STATES.get(where)
    if state is None:
        sandbox(where)
        state = _STATES[where] = {"__name__": "__docs__"}
    return where, state


_STATES: dict[Path, dict] = {}


# -- running a block --------------------------------------------------------------------------
def _match(expected: list[str], output: str, what: str) -> None:
    """Each expected line appears in the output, in order; ``...`` is any text."""
    got = output.splitlines()
    pos = 0
    for line in expected:
        if line.strip() == "...":
            continue
        pattern = re.compile(
            ".*?".join(re.escape(part.strip()) for part in line.split("...")) + r"\s*$"
        )
        for k in range(pos, len(got)):
            if pattern.match(got[k].strip()):
                pos = k + 1
                break
        else:
            raise AssertionError(f"{what}: expected line not printed: {line!r}\n{output}")


def _run_console(block: Block, where: Path, code: int) -> None:
    commands: list[tuple[str, list[str]]] = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            commands.append((line[2:], []))
        elif commands and line.strip():
            commands[-1][1].append(line)
    assert commands, f"{block.id}: a console block without a '$ ' command"
    for command, expected in commands:
        r = subprocess.run(
            ["bash", "-c", command],
            cwd=where,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        what = f"{block.id}: {command}"
        assert r.returncode == code, f"{what}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
        _match(expected, r.stdout + r.stderr, what)


def _check_data(block: Block) -> None:
    text = block.text
    if block.lang == "json":
        stripped = text.strip()
        if stripped.startswith("["):
            value = json.loads(stripped)
            if all(isinstance(x, dict) and ("Tag" in x or "Setting" in x) for x in value):
                ConfidentialityProfile.load_from_json_string(stripped)
        else:  # JSON Lines (the audit log)
            for line in stripped.splitlines():
                json.loads(line)
    elif block.lang == "xml":
        ConfidentialityProfile.load_from_xml_string(text)
    elif block.lang == "csv":
        ConfidentialityProfile.load_from_csv_string(text)


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=lambda b: b.id)
def test_block(block: Block, pages_dir: Path) -> None:
    reason = block.mark("skip")
    if reason is not None:
        pytest.skip(reason or "marked skip")
    if block.lang == "text":
        if block.mark("pixel-rules") is not None:
            assert len(parse_pixel_rules(block.text)) >= 1
        return
    if block.lang in ("json", "xml", "csv"):
        _check_data(block)
        return
    where, namespace = _page_state(pages_dir, block.page)
    code = int(block.mark("exit") or 0)
    if block.lang == "python":
        old = Path.cwd()
        os.chdir(where)
        out = io.StringIO()
        try:
            from contextlib import redirect_stdout

            with redirect_stdout(out):
                exec(compile(block.text, block.id, "exec"), namespace)  # noqa: S102
        finally:
            os.chdir(old)
    elif block.lang == "sh":
        r = subprocess.run(
            ["bash", "-ec", block.text],
            cwd=where,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert r.returncode == code, f"{block.id}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    else:
        _run_console(block, where, code)


# -- the CLI's options and the docs -----------------------------------------------------------
def _documented_options(command: str) -> set[str]:
    """The options docs/cli.md's synopsis of ``dicomveil COMMAND`` shows."""
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    m = re.search(rf"```text\ndicomveil {re.escape(command)} (.*?)```", text, flags=re.DOTALL)
    assert m, f"docs/cli.md has no synopsis of dicomveil {command}"
    return set(re.findall(r"(--[a-z][a-z-]*|-[a-z])\b", m.group(1)))


@pytest.mark.parametrize(
    "command", ["anonymize", "verify", "profile show", "profile export", "dump"]
)
def test_help_and_docs_list_the_same_options(command: str) -> None:
    cmd = main
    for part in command.split():
        cmd = cmd.commands[part]  # type: ignore[attr-defined]
    params = [
        [o for o in p.opts + p.secondary_opts]
        for p in cmd.params
        if p.param_type_name == "option" and "--help" not in p.opts
    ]
    documented = _documented_options(command)
    missing = [p[-1] for p in params if not documented.intersection(p)]
    unknown = sorted(documented - {o for p in params for o in p})
    assert not missing and not unknown, (
        f"dicomveil {command}: in --help, not in docs/cli.md's synopsis: {missing}; in the "
        f"synopsis, not in --help: {unknown}"
    )


def test_option_names_are_one_list() -> None:
    """--help, the errors and docs/cli.md give the same option names, those of the enum."""
    from click.testing import CliRunner
    from dicomveil import ConfidentialityProfileOptions

    assert _OPTION_NAMES == list(ConfidentialityProfileOptions.__members__)
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| `--option NAME`"))
    assert list(dict.fromkeys(re.findall(r"`([A-Z_]{3,})`", row))) == _OPTION_NAMES
    runner = CliRunner()
    help_text = " ".join(runner.invoke(main, ["anonymize", "--help"]).output.split())
    assert ", ".join(_OPTION_NAMES) in help_text
    r = runner.invoke(main, ["profile", "show", "--option", "NOPE"])
    assert r.exit_code == 2
    assert f"known: {', '.join(_OPTION_NAMES)}" in " ".join(r.output.split())
