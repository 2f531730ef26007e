"""The ``dicomveil`` command: de-identify a tree, show or export a profile, dump, verify.

Exit codes: 0 when all went well, 1 when some files were refused (or a check found something,
or a command failed), 2 on a usage error, 128 + the signal's number when a run was stopped by
Ctrl-C (SIGINT, 130), SIGTERM (143) or SIGHUP (129). Nothing printed holds patient data or
the key, except ``dicomveil dump``, whose purpose is to show a file's values.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

import click

from . import _core, profile_io
from .anonymizer import Anonymizer
from .errors import (
    BurnedInAnnotationWarning,
    DicomveilError,
    WeakKeyWarning,
    WeakProfileWarning,
)
from .file import DicomFile
from .leakscan import PixelScope
from .leakscan import verify as run_verify
from .ocr import ocr_available
from .pixels import load_pixel_rules
from .profile import (
    ALL_PRIVATE,
    EDITION,
    ConfidentialityProfile,
    ConfidentialityProfileOptions,
    detect_format,
)
from .profile_io import PSEUDONYM
from .pseudonym import Pseudonym
from .report import FileResult, Progress, Report

__all__ = ["main"]

F = TypeVar("F", bound=Callable[..., Any])

Options = ConfidentialityProfileOptions

#: The one list of option names: what ``--help``, the errors and docs/cli.md give (ALL too:
#: Flag iteration would skip an alias; BASIC_PROFILE, always on, is accepted and listed).
_OPTION_NAMES = list(Options.__members__)

_ACTIONS_LEGEND = (
    "X remove, Z empty value, D dummy value, K keep, C clean, U new UID; "
    "compound codes are resolved by the attribute's type in each object's IOD (see "
    "--sop-class), and X or Z on an attribute the IOD requires keeps a valid value"
)
_LITERAL_LEGEND = (
    "X remove, Z empty value, D dummy value, K keep, C clean, U new UID; "
    "literal: X/Z -> Z, X/D X/Z/D Z/D -> D, X/Z/U* keeps the sequence and replaces its UIDs"
)

BURNED_IN_FLAG = "burned-in-annotation"
BurnedIn = Literal["warn", "refuse", "allow"]


# -- shared helpers ---------------------------------------------------------------------------
class _Group(click.Group):
    """A group that ends quietly when its output pipe is closed (``dicomveil ... | head``)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # the reader has gone: no traceback, no second error when Python flushes at exit
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, sys.stdout.fileno())
            except (OSError, ValueError):  # pragma: no cover - stdout without a descriptor
                pass
            ctx.exit(1)


def _err(message: str) -> None:
    click.echo(message, err=True)


def _parse_options(values: Iterable[str]) -> Options:
    """Option names, case-insensitive, ``-`` or ``_``, repeated or comma-separated."""
    flags = Options.BASIC_PROFILE
    for value in values:
        for part in value.split(","):
            name = part.strip().upper().replace("-", "_")
            if not name:
                continue
            if name not in _OPTION_NAMES:
                raise click.BadParameter(
                    f"unknown option {part.strip()!r}; known: {', '.join(_OPTION_NAMES)}",
                    param_hint="'--option'",
                )
            flags |= Options.__members__[name]
    return flags


def _load_profile(path: Path, options: Options | None) -> ConfidentialityProfile:
    """The profile of a file, its format recognised from its content unless
    ``--profile-format`` names it; ``--lookup-table`` for the @lookup of CTP scripts."""
    meta = click.get_current_context().meta
    fmt = meta.get(_FORMAT_KEY)
    lookup = meta.get(_LOOKUP_KEY)
    try:
        if fmt is None:
            fmt = detect_format(profile_io.decode(profile_io.read_bytes_file(path), str(path)))
        if fmt == "ctp" and options is not None:
            raise click.BadParameter(
                "--option selects columns of a profile in the form of Table E.1-1; a CTP "
                "script has none",
                param_hint="'--option'",
            )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            prof = ConfidentialityProfile.load(path, fmt, options, lookup)
    except (DicomveilError, OSError, UnicodeDecodeError) as e:
        raise click.BadParameter(str(e), param_hint="'--profile'") from None
    for w in caught:  # e.g. --option with a profile in the rule form: one clean line each
        _err(f"warning: {w.message}")
    return prof


_FORMAT_KEY = "dicomveil.profile_format"
_LOOKUP_KEY = "dicomveil.lookup_table"


def _remember(key: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def store(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        if value is not None:
            ctx.meta[key] = value
        return value

    return store


def _build_profile(
    profile_file: Path | None,
    options: Sequence[str],
    literal: bool = False,
    unlisted: str | None = None,
) -> ConfidentialityProfile:
    """The profile of ``--profile FILE`` (with the file's settings) or of the default table,
    with the ``--option``s; ``--literal`` carries it out with no resolution by IOD, and
    ``--unlisted`` replaces the file's setting."""
    flags = _parse_options(options)
    if profile_file is not None:
        # options select the columns of a profile file in the option form (Table E.1-1's)
        prof = _load_profile(profile_file, flags if options else None)
    else:
        try:
            prof = ConfidentialityProfile.create_default(flags)
        except (NotImplementedError, DicomveilError) as e:
            raise click.BadParameter(str(e), param_hint="'--option'") from None
    if literal:
        prof.conform_to_iod = False
    if unlisted is not None:
        prof.unlisted = unlisted
    return prof


def _literal_option(f: F) -> F:
    """``--literal``: the profile's rules with no resolution by the object's IOD."""
    return click.option(
        "--literal",
        is_flag=True,
        help="Carry the profile's rules out as written: no resolution by each object's IOD "
        "(PS3.3), so an X or Z on an attribute the IOD requires takes it away (outputs may "
        "not conform), and compound codes take a fixed choice (X/Z -> Z, X/D X/Z/D Z/D -> D, "
        "X/Z/U* keeps the sequence and replaces its UIDs).",
    )(f)


def _unlisted_option(f: F) -> F:
    """``--unlisted clean|keep``: what happens to attributes Table E.1-1 does not list."""
    return click.option(
        "--unlisted",
        type=click.Choice(["clean", "keep", "remove"]),
        help="What happens to attributes Table E.1-1 does not list: clean (the default) "
        "treats those that can identify someone the way the table treats their kind; keep "
        "keeps them, the table exactly; remove removes every attribute no rule names (an "
        "allow-list, CTP's unspecifiedelements). Replaces the setting of a --profile file.",
    )(f)


def _settings_line(prof: ConfidentialityProfile) -> str | None:
    """The profile's settings that are not at their defaults, for a header line, or None."""
    parts = []
    for name in ("patient_name", "patient_id"):
        value = getattr(prof, name)
        if value is not None:
            parts.append(f"{name} {'@pseudonym' if isinstance(value, Pseudonym) else repr(value)}")
    if not prof.conform_to_iod:
        parts.append("conform_to_iod no")
    if prof.unlisted != "clean":
        parts.append(f"unlisted {prof.unlisted}")
    if prof.clean_pixel_data:
        parts.append("clean_pixel_data yes")
    if prof.pixel_rules:
        n = len(prof.pixel_rules)
        parts.append(f"{n} pixel rule{'s' if n != 1 else ''}")
    return f"# settings: {', '.join(parts)}" if parts else None


def _profile_options(f: F) -> F:
    """``--profile FILE`` and ``--option NAME`` (repeatable)."""
    f = click.option(
        "--option",
        "options",
        multiple=True,
        metavar="NAME",
        help=(
            "An option of the PS3.15 profile, repeatable or comma-separated, case-insensitive: "
            + ", ".join(_OPTION_NAMES)
            + " (also written retain-uids; BASIC_PROFILE is always on; ALL is the ten options "
            "of Table E.1-1, CLEAN_PIXEL_DATA not included). With --profile: selects the "
            "option columns of a profile file in the form of Table E.1-1."
        ),
    )(f)
    f = click.option(
        "--profile",
        "profile_file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        metavar="FILE",
        help="A profile file instead of the PS3.15 default: ours (CSV, JSON, XML) or an RSNA "
        "CTP DicomAnonymizer script, recognised from its content; 'dicomveil profile "
        "export' writes one to start from.",
    )(f)
    f = click.option(
        "--profile-format",
        type=click.Choice(list(profile_io.FORMATS), case_sensitive=False),
        expose_value=False,
        callback=_remember(_FORMAT_KEY),
        help="The format of the --profile file, instead of recognising it from its content "
        "(deid and kitware: not yet supported).",
    )(f)
    f = click.option(
        "--lookup-table",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        metavar="FILE",
        expose_value=False,
        callback=_remember(_LOOKUP_KEY),
        help="The lookup table of the profile's @lookup (a CTP script's, or a profile "
        "converted from one; keytype/key=value lines); a file whose key it lacks is refused.",
    )(f)
    return f


def _set_replacement(prof: ConfidentialityProfile, name: str, value: str) -> None:
    """``--patient-name`` / ``--patient-id``: printable ASCII, or ``@pseudonym`` (a keyed
    pseudonym, as in profile files), checked by the profile's own check."""
    hint = f"'--{name.replace('_', '-')}'"
    replacement: str | Pseudonym = Pseudonym() if value.casefold() == PSEUDONYM else value
    if isinstance(replacement, str) and replacement.startswith("@"):
        raise click.BadParameter(
            f"a value starting with @ is {PSEUDONYM} (a keyed pseudonym)", param_hint=hint
        )
    try:
        setattr(prof, name, replacement)
    except DicomveilError as e:
        raise click.BadParameter(str(e).removeprefix(f"{name} "), param_hint=hint) from None


def _check_naming(template: str) -> None:
    """Check a naming template (the engine's check) before any file is touched."""
    try:
        _core.check_naming(template)
    except DicomveilError as e:
        raise click.BadParameter(str(e), param_hint="'--naming'") from None


class _Bar:
    """A tqdm progress bar on stderr, fed by the engine's progress callback. Its text fits 80
    columns with room for the bar; it is ended with its own line when the run is stopped, so
    that no message is printed on the bar's line."""

    #: while the number of files is not yet known, then with it
    COUNTING = "{desc} {n_fmt} files{postfix} [{elapsed}]"
    KNOWN = (
        "{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} files{postfix} "
        "[{elapsed}<{remaining}]"
    )

    def __init__(self) -> None:
        from tqdm import tqdm

        try:
            columns = os.get_terminal_size(sys.stderr.fileno()).columns
        except (OSError, ValueError):
            columns = 0
        # a terminal that does not tell its size (0 x 0) would get no bar at all
        width: dict[str, Any] = {"dynamic_ncols": True} if columns else {"ncols": 80, "nrows": 24}
        self._bar = tqdm(
            total=None,
            unit="file",
            file=sys.stderr,
            leave=False,
            desc="anonymizing",
            bar_format=self.COUNTING,
            **width,
        )

    def __call__(self, p: Progress) -> None:
        bar = self._bar
        if bar.total != p.total:
            bar.total = p.total
            bar.bar_format = self.COUNTING if p.total is None else self.KNOWN
        bar.set_postfix_str(f"{p.refused} refused, {p.bytes_in / 1e6:.0f} MB", refresh=False)
        bar.update(max(0, p.finished - bar.n))  # redraws at most every 0.1 s

    def close(self, stopped: bool = False) -> None:
        """Take the bar away; when the run was stopped, leave it as it was and end its line,
        so the messages that follow start on a line of their own."""
        if stopped:
            self._bar.leave = True
        self._bar.close()


def _reason(r: FileResult) -> str:
    """The reason without the file name it starts with (the line names the file)."""
    reason = r.reason or r.error or "unknown"
    prefix = f"{r.source}: "
    return reason[len(prefix) :] if reason.startswith(prefix) else reason


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class _Signalled(KeyboardInterrupt):
    """SIGTERM or SIGHUP during a run: it stops as on Ctrl-C (a ``KeyboardInterrupt``, so that
    the engine and a distributed run treat it alike)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


#: The signals that stop a run as Ctrl-C does (closing the terminal sends SIGHUP).
_STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)


@contextmanager
def _stopped_by_signals() -> Iterator[None]:
    """While a run goes on: SIGTERM and SIGHUP raise :class:`_Signalled` (the engine checks
    for signals every progress tick, then finishes the files being written and stops)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread can handle signals
        return

    def stop(signum: int, _frame: object) -> None:
        raise _Signalled(signum)

    previous = {sig: signal.signal(sig, stop) for sig in _STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _interrupted(stop: KeyboardInterrupt, dry_run: bool, quiet: bool, audit: Path | None) -> int:
    """Say that the run was stopped, with the report of the files done so far; the exit code
    (128 + the signal's number)."""
    signum = getattr(stop, "signum", signal.SIGINT)
    what = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
    report = getattr(stop, "report", None)
    try:
        if isinstance(report, Report):
            _print_report(report, dry_run, quiet, audit)
        _err(f"{what}: the files finished so far are complete; no partial file is left")
    except OSError:  # the terminal is gone (SIGHUP): nothing to tell it
        pass
    return 128 + int(signum)


def _print_report(report: Report, dry_run: bool, quiet: bool, audit: Path | None) -> int:
    """Print refused and flagged files, notes and the summary on stderr; return the exit code."""
    for r in report.refused:
        _err(f"refused: {r.source}: {_reason(r)}")
    for r in report.flagged:
        if BURNED_IN_FLAG in r.flags:
            _err(f"flagged: {r.source}: may carry burned-in annotation; review its pixels")
        else:
            _err(f"flagged: {r.source}: {', '.join(r.flags)}")
    if report.stopped:
        _err("error: the run stopped before every file was processed")
    if not quiet:
        not_dicom = links = 0
        for r in report.skipped:
            reason = r.reason or ""
            if reason.startswith("symbolic link"):
                links += 1
            elif reason == "not DICOM":
                not_dicom += 1
            else:  # a DICOMDIR, a path given twice: named one by one
                _err(f"note: skipped {r.source}: {reason}")
        where = f"listed in {audit}" if audit else "--audit FILE lists them"
        if not_dicom:
            what = "file that is" if not_dicom == 1 else "files that are"
            _err(f"note: skipped {not_dicom} {what} not DICOM ({where})")
        if links:
            _err(f"note: skipped {_plural(links, 'symbolic link')}, not followed ({where})")
        if report.leftovers_removed:
            _err(
                f"note: removed {_plural(report.leftovers_removed, 'temporary file')} "
                "(.dicomveil-*.part) left by an earlier run that was killed"
            )
        summary = report.summary()
        prefix = "dry run, nothing written: " if dry_run else ""
        _err(f"dicomveil: {prefix}{summary}")
    return 0 if report.ok else 1


# -- the command group ------------------------------------------------------------------------
@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    _core.__version__,
    "--version",
    prog_name="dicomveil",
    message=f"%(prog)s %(version)s (PS3.15 {EDITION})",
)
def main() -> None:
    """De-identify DICOM files by the PS3.15 confidentiality profiles.

    \b
    Exit codes: 0 all went well; 1 some files were refused, a check found
    something or a command failed; 2 usage error.
    """


@main.command()
@click.argument("src", type=click.Path(exists=True, path_type=Path))
# a str: a trailing slash (DST is a folder) must survive
@click.argument("dst", required=False, type=click.Path())
@_profile_options
@_literal_option
@_unlisted_option
@click.option(
    "--key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Secret for new UIDs, date shifts and pseudonyms (the file's bytes, one trailing "
    "newline ignored): the same key gives the same results in every run. Without it, a random "
    "key is used for this run only.",
)
@click.option(
    "--patient-name",
    metavar="TEXT",
    help="PatientName to write (printable ASCII), or @pseudonym: a keyed pseudonym "
    "(ANONYMOUS^ and 16 hex digits, the same for one patient in every run with the same "
    "key). Replaces a --profile file's patient_name.",
)
@click.option(
    "--patient-id",
    metavar="TEXT",
    help="PatientID to write (printable ASCII), or @pseudonym: a keyed pseudonym (16 hex "
    "digits, the same for one patient in every run with the same key). Replaces a "
    "--profile file's patient_id.",
)
@click.option(
    "--burned-in",
    type=click.Choice(["warn", "refuse", "allow"]),
    default="warn",
    show_default=True,
    help="Files that may carry burned-in annotation (text in the pixels) and that no pixel "
    "rule cleaned: de-identify and flag them for review, refuse them, or de-identify them "
    "without a flag.",
)
@click.option(
    "--pixel-rules",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Pixel rules in CTP's DicomPixelAnonymizer script syntax ({ selector } (x,y,w,h) "
    "...): the first rule whose selector matches a file blanks its regions in every frame. "
    "Replaces a --profile file's pixel rules and turns on --option CLEAN_PIXEL_DATA. "
    "See docs/pixels.md.",
)
@click.option(
    "--redact-pixel-text",
    is_flag=True,
    help="Find text burned into the pixels of the files that may carry it, by OCR, and "
    "blank every run of words the profile's allow-list does not cover (grown by a margin). "
    "A file is refused when the OCR engine is missing or a frame cannot be decoded. Needs "
    "dicomveil[ocr]; see docs/ocr.md.",
)
@click.option(
    "--workers", type=click.IntRange(min=1), metavar="N", help="Threads [default: all cores]."
)
@click.option("--in-place", is_flag=True, help="Overwrite SRC (then give no DST, or DST = SRC).")
@click.option("--dry-run", is_flag=True, help="Decide everything, write no output file.")
@click.option(
    "--audit",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Write the audit log, JSON Lines, one line per file (no patient data, no key).",
)
@click.option(
    "--uid-map",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Also write every UID replaced, original and new, to FILE (CSV with the header "
    "original_uid,new_uid) when the run ends. It re-identifies the outputs: it is written "
    "with mode 0600, and refused inside DST or SRC. Not with --scheduler.",
)
@click.option(
    "--naming",
    metavar="TEMPLATE",
    help="Name outputs from the de-identified dataset instead of mirroring SRC, e.g. "
    "'{StudyInstanceUID}/{SeriesInstanceUID}/{SOPInstanceUID}.dcm'.",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Run on the Dask cluster whose scheduler is at ADDRESS (e.g. tls://head:8786) "
    "instead of this machine. SRC, DST and --key-file must be paths every worker sees (a "
    "shared filesystem); the workers read the key file. Needs dicomveil[dask].",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, notes or summary.")
def anonymize(
    src: Path,
    dst: str | None,
    profile_file: Path | None,
    options: tuple[str, ...],
    literal: bool,
    unlisted: str | None,
    key_file: Path | None,
    patient_name: str | None,
    patient_id: str | None,
    burned_in: str,
    pixel_rules: Path | None,
    redact_pixel_text: bool,
    workers: int | None,
    in_place: bool,
    dry_run: bool,
    audit: Path | None,
    uid_map: Path | None,
    naming: str | None,
    scheduler: str | None,
    quiet: bool,
) -> None:
    """De-identify SRC (a file or a folder) into DST.

    A folder's output mirrors its relative paths (or follows --naming). Files
    that are not DICOM, and DICOMDIRs, are skipped; a file that cannot be
    de-identified is refused and nothing is written for it. Every output is
    written to a temporary name and renamed when complete. SRC is never
    written to, unless --in-place.

    With a file SRC, DST is the output file, or a folder when it exists, ends
    with a slash or --naming is given.

    One run at a time writes into a folder: a run holds DST's lock (the file
    DST/.dicomveil.lock; SRC's with --in-place) until it ends, and another run
    into it is refused meanwhile. Symbolic links inside DST are not followed:
    a file whose output would go through one is refused.

    Exit code 0 when every DICOM file was done, 1 when some were refused (or
    another run holds DST), 128 + the signal's number when stopped by Ctrl-C,
    SIGTERM or SIGHUP (the files being written are finished first).
    """
    if scheduler is not None:
        _check_cluster(in_place, workers)
    target = _check_paths(src, dst, in_place, naming, audit)
    if naming is not None:
        _check_naming(naming)
    if uid_map is not None:
        _check_uid_map(uid_map, src, target, scheduler)

    profile = _build_profile(profile_file, options, literal, unlisted)
    # given, they replace the --profile file's settings; not given, the file's stay
    if patient_name is not None:
        _set_replacement(profile, "patient_name", patient_name)
    if patient_id is not None:
        _set_replacement(profile, "patient_id", patient_id)
    if pixel_rules is not None:
        try:
            profile.pixel_rules = load_pixel_rules(pixel_rules)
        except (DicomveilError, OSError, UnicodeDecodeError) as e:
            raise click.BadParameter(str(e), param_hint="'--pixel-rules'") from None
        profile.clean_pixel_data = True
    if profile.clean_pixel_data and not profile.pixel_rules and not quiet:
        _err(
            "warning: CLEAN_PIXEL_DATA without pixel rules: no pixels are cleaned "
            "(give --pixel-rules FILE)"
        )
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", WeakKeyWarning)
            warnings.simplefilter("always", WeakProfileWarning)
            anonymizer = Anonymizer(
                profile,
                key_file=key_file,
                burned_in=cast(BurnedIn, burned_in),
                keep_uid_map=uid_map is not None,  # memory per UID only when asked
                pixel_text="redact" if redact_pixel_text else "off",
            )
            anonymizer._get_engine()  # its warnings now, before the run's output
    except (ValueError, OSError) as e:
        raise click.BadParameter(str(e), param_hint="'--key-file'") from None
    for w in caught:
        _err(f"warning: {w.message}")
    if redact_pixel_text and not ocr_available() and not quiet:
        _err(
            "warning: --redact-pixel-text without the OCR engine (pip install "
            "'dicomveil[ocr]'): every file that may carry burned-in text will be refused"
        )
    if key_file is None:
        _err(
            "warning: no --key-file: a random key is used, so new UIDs (and date shifts and "
            "pseudonyms) will not match those of other runs (give --key-file to make them "
            "reproducible)"
        )

    bar = _Bar() if not quiet and sys.stderr.isatty() else None
    stopped = True  # until the run returns
    try:
        try:
            with _stopped_by_signals():
                report = _run(
                    anonymizer,
                    scheduler,
                    src,
                    target,
                    profile=profile,
                    key_file=key_file,
                    burned_in=cast(BurnedIn, burned_in),
                    pixel_text="redact" if redact_pixel_text else "off",
                    workers=workers,
                    naming=naming,
                    dry_run=dry_run,
                    audit=audit,
                    progress=bar,
                )
            stopped = False
        finally:
            if bar is not None:
                bar.close(stopped)
    except KeyboardInterrupt as stop:  # Ctrl-C, SIGTERM, SIGHUP
        sys.exit(_interrupted(stop, dry_run, quiet, audit))
    except (DicomveilError, OSError) as e:
        failed = getattr(e, "report", None)
        if failed is None:
            raise click.ClickException(str(e)) from None
        # the run went on (the audit log failed): what it did, then what failed
        _print_report(failed, dry_run, quiet, None)
        _err(f"error: {e}")
        sys.exit(1)
    if uid_map is not None:
        _write_uid_map(uid_map, anonymizer.uid_map())
    if not src.is_dir() and report.skipped and not report.done and not report.refused:
        # a file named on its own that is not DICOM (or is a DICOMDIR) is an error, not a skip
        raise click.ClickException(f"{src}: {report.skipped[0].reason}: nothing written")
    if (profile.clean_pixel_data or redact_pixel_text) and not quiet:
        _print_pixels(report)
    sys.exit(_print_report(report, dry_run, quiet, audit))


def _check_uid_map(path: Path, src: Path, target: str, scheduler: str | None) -> None:
    """--uid-map: a re-identification key, so never among the outputs or the inputs."""
    if scheduler is not None:
        raise click.UsageError(
            "--uid-map cannot be used with --scheduler: the workers' mappings stay on them"
        )
    where = path.resolve()
    if where.is_dir():
        raise click.BadParameter(f"{path} is a folder", param_hint="'--uid-map'")
    if not where.parent.is_dir():
        raise click.BadParameter(f"{path.parent} is not a folder", param_hint="'--uid-map'")
    for name, root in (("DST", Path(target)), ("SRC", src)):
        root = root.resolve()
        if where == root or where.is_relative_to(root):
            raise click.BadParameter(
                f"{path} is inside {name}: the UID map re-identifies the outputs; keep it "
                "apart from them",
                param_hint="'--uid-map'",
            )


def _write_uid_map(path: Path, mapping: dict[str, str]) -> None:
    """Write the UID map atomically, readable by its owner only (mode 0600)."""
    import csv
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=".dicomveil-uidmap-", suffix=".part", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", newline="", encoding="ascii") as out:
            writer = csv.writer(out)
            writer.writerow(["original_uid", "new_uid"])
            writer.writerows(sorted(mapping.items()))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _print_pixels(report: Report) -> None:
    """What Clean Pixel Data did: a line per file whose rule missed, and the counts (and of
    the files read by OCR)."""
    cleaned = unmatched = read = redacted = 0
    for r in report.iter_files():
        if r.pixels is None:
            continue
        if r.pixels.startswith("OCR:"):
            read += 1
            redacted += "blanked" in r.pixels.split(";")[0]
        if "cleaned by rule" in r.pixels:
            cleaned += 1
        elif "no rule matched" in r.pixels:
            unmatched += 1
        if "misses" in r.pixels or "blanked nothing" in r.pixels:
            _err(f"pixels: {r.source}: {r.pixels}")
    if read:
        _err(f"pixels: {_plural(read, 'file')} read by OCR, text blanked in {redacted}")
    _err(f"pixels: {_plural(cleaned, 'file')} cleaned by a pixel rule, {unmatched} matched no rule")


def _run(
    anonymizer: Anonymizer,
    scheduler: str | None,
    src: Path,
    target: str,
    *,
    profile: ConfidentialityProfile,
    key_file: Path | None,
    burned_in: BurnedIn,
    pixel_text: str,
    workers: int | None,
    naming: str | None,
    dry_run: bool,
    audit: Path | None,
    progress: _Bar | None,
) -> Report:
    """The run of ``anonymize``: on this machine, or on the cluster at ``scheduler``. The
    burned-in warning is not shown: the files are listed as flagged instead."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BurnedInAnnotationWarning)
        if scheduler is None:
            return anonymizer.anonymize_tree(
                src,
                target,
                workers=workers,
                naming=naming,
                dry_run=dry_run,
                audit=audit,
                progress=progress,
                progress_interval=0.1,
            )
        return _anonymize_on_cluster(
            scheduler,
            src,
            target,
            profile=profile,
            key_file=key_file,
            burned_in=burned_in,
            pixel_text=pixel_text,
            naming=naming,
            dry_run=dry_run,
            audit=audit,
            progress=progress,
        )


def _check_cluster(in_place: bool, workers: int | None) -> None:
    """--scheduler: the options it excludes, and Dask."""
    if in_place:
        raise click.UsageError(
            "--in-place cannot run on a cluster: a batch run again after a lost worker would "
            "de-identify some files twice"
        )
    if workers is not None:
        raise click.UsageError(
            "--workers sets this machine's threads; with --scheduler the cluster's workers "
            "set the parallelism"
        )
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise click.UsageError(
            "--scheduler needs Dask: pip install 'dask[distributed]>=2024.1'"
        ) from None


def _anonymize_on_cluster(scheduler: str, src: Path, target: str, **options: Any) -> Report:
    """Run on the Dask cluster at ``scheduler``; the workers read the key file themselves."""
    import distributed

    from .distributed import anonymize_tree_distributed

    try:
        client = distributed.Client(scheduler, set_as_default=False)
    except (OSError, ValueError, TypeError) as e:
        raise click.ClickException(
            f"cannot connect to the Dask scheduler {scheduler}: {e}"
        ) from None
    try:
        return anonymize_tree_distributed(src, target, client=client, **options)
    finally:
        client.close()


#: The problems of the engine's path check that the command line words its own way, naming
#: SRC and DST (the others keep the engine's words).
_PATH_WORDING = {
    "destination-is-source": "DST is SRC: add --in-place to overwrite the input",
    "destination-inside-source": (
        "DST {dst} is inside SRC {src}: choose a destination outside the source"
    ),
    "source-inside-destination": (
        "SRC {src} is inside DST {dst}: outputs could overwrite inputs; "
        "choose a destination that does not contain the source"
    ),
    "output-is-source": "the output would be SRC itself: add --in-place to overwrite it",
    "audit-inside-source": "the audit log would be written into SRC; put it elsewhere",
}


def _check_paths(
    src: Path, dst_arg: str | None, in_place: bool, naming: str | None, audit: Path | None
) -> str:
    """Check SRC, DST and --audit with the engine's check (``_core.check_paths``); return the
    destination to give the engine. A trailing slash of DST (a folder) is kept."""
    if in_place:
        if naming is not None:
            raise click.UsageError("--naming cannot be combined with --in-place")
        target = os.fspath(src) if dst_arg is None else dst_arg
    elif dst_arg is None:
        raise click.UsageError("missing DST (or --in-place to overwrite SRC)")
    else:
        target = dst_arg
    try:
        plan = _core.check_paths(
            src, target, audit, in_place_allowed=in_place, naming=naming is not None
        )
    except DicomveilError as e:
        code = getattr(e, "code", None)
        wording = _PATH_WORDING.get(code or "")
        message = str(e) if wording is None else wording.format(src=src, dst=target)
        if code is not None and code.startswith("audit-"):
            raise click.BadParameter(message, param_hint="'--audit'") from None
        raise click.UsageError(message) from None
    if in_place and not plan.in_place:
        raise click.UsageError("--in-place overwrites SRC: give no DST, or DST equal to SRC")
    return target


# -- profile ----------------------------------------------------------------------------------
@main.group()
def profile() -> None:
    """Show or export a confidentiality profile."""


def _table_names() -> dict[str, tuple[str, str]]:
    """Table E.1-1: tag pattern (canonical) -> (keyword, name)."""
    return {
        tag.lower(): (keyword, name) for tag, keyword, name, _vr, _actions in _core.table_rows()
    }


def _show_pattern(
    canon: str, tag: int | None, names: dict[str, tuple[str, str]]
) -> tuple[str, str, str]:
    """(pattern as shown, keyword, name) of a rule's canonical pattern."""
    if canon == ALL_PRIVATE:
        return canon, "-", "every private attribute without a more specific rule"
    pattern, _, creator = canon.partition(":")
    shown = pattern.upper().replace("X", "x")
    if creator:
        # the form the loaders read back: (gggg,xxee:CREATOR)
        return f"({shown}:{creator})", "-", f"private attribute of creator {creator!r}"
    shown = f"({shown})"
    keyword, name = names.get(pattern, ("", ""))
    if not keyword and tag is not None:
        keyword = _core.tag_to_keyword(tag) or ""
    return shown, keyword or "-", name


def _describe(prof: ConfidentialityProfile, profile_file: Path | None) -> str:
    source = f" (from {profile_file})" if profile_file is not None else ""
    if prof.options is None:
        return f"custom profile{source}"
    names = [o.name or "" for o in Options if o in prof.options and o.name != "ALL"]
    return f"PS3.15 {EDITION} Table E.1-1, {' + '.join(names)}{source}"


def _sop_class(text: str) -> str:
    """A SOP Class UID, or the name of an IOD of the tables ("CT Image", any case): the UID
    of the first SOP class of that IOD."""
    if all(c.isdigit() or c == "." for c in text):
        return text
    wanted = " ".join(text.split()).casefold()
    for uid in _core.iod_sop_classes():
        if (_core.iod_of(uid) or "").casefold() == wanted:
            return uid
    raise click.BadParameter(
        f"{text!r} is neither a SOP Class UID nor the name of an IOD of the tables "
        "(e.g. 'CT Image', 'Grayscale Softcopy Presentation State')",
        param_hint="'--sop-class'",
    )


@profile.command("show")
@_profile_options
@_literal_option
@_unlisted_option
@click.option(
    "--sop-class",
    "sop_class",
    metavar="CLASS",
    help="Show what each rule does to an object of this SOP class (a UID, or an IOD name "
    "such as 'CT Image'): the attribute's type in its IOD and the action that results.",
)
def profile_show(
    profile_file: Path | None,
    options: tuple[str, ...],
    literal: bool,
    unlisted: str | None,
    sop_class: str | None,
) -> None:
    """Print the effective rule table: tag pattern, keyword, action, name.

    With --sop-class, also the attribute's type in that class's IOD (PS3.3, at
    the top level of the dataset) and the action that results (EFFECTIVE):
    compound codes resolved by type, and an X or Z on an attribute the IOD
    requires turned into D (Type 1) or Z (Type 2).
    """
    prof = _build_profile(profile_file, options, literal, unlisted)
    names = _table_names()
    # literal with --literal, or by the @conform_to_iod setting of a --profile file
    legend = _ACTIONS_LEGEND if prof.conform_to_iod else _LITERAL_LEGEND
    settings = _settings_line(prof)
    if sop_class is None:
        rows = sorted(
            (*_show_pattern(canon, tag, names), str(action))
            for _written, canon, action, tag in prof._describe()
        )
        wp = max([len("TAG")] + [len(r[0]) for r in rows])
        # a few keywords are very long: they push their line rather than widen every line
        wk = min(36, max([len("KEYWORD")] + [len(r[1]) for r in rows]))
        wa = max([len("ACTION")] + [len(r[3]) for r in rows])
        lines = [
            f"# {_describe(prof, profile_file)}: {_plural(len(rows), 'rule')}",
            *([settings] if settings else []),
            f"# actions: {legend}",
            "# an attribute that no rule names: "
            + {
                "keep": "kept (--unlisted keep)",
                "remove": "removed (--unlisted remove; but SOP Class/Instance and Study "
                "Instance UIDs, groups 0028 and 7FE0)",
            }.get(
                prof.unlisted,
                "treated by its kind (names removed, instance UIDs replaced, text cleaned)",
            ),
            f"{'TAG':<{wp}}  {'KEYWORD':<{wk}}  {'ACTION':<{wa}}  NAME",
        ]
        lines += [
            f"{shown:<{wp}}  {keyword:<{wk}}  {action:<{wa}}  {name}".rstrip()
            for shown, keyword, name, action in rows
        ]
        click.echo("\n".join(lines))
        return
    uid = _sop_class(sop_class)
    iod = _core.iod_of(uid)
    if iod is None:
        _err(
            f"warning: SOP class {uid} is not in the IOD tables ({_core.IOD_SOURCE_DATE} "
            "edition of PS3.3): its objects are de-identified by the table alone"
        )
    resolved = sorted(
        (
            *_show_pattern(r.canonical, r.tag, names),
            str(r.action),
            r.iod_type or "-",
            r.effective or "K",
        )
        for r in prof.resolve_for(uid)
    )
    wp = max([len("TAG")] + [len(r[0]) for r in resolved])
    wk = min(36, max([len("KEYWORD")] + [len(r[1]) for r in resolved]))
    wa = max([len("ACTION")] + [len(r[3]) for r in resolved])
    wt, we = len("TYPE"), len("EFFECTIVE")
    where = f"IOD {iod!r}" if iod is not None else "no IOD known"
    how = "resolved by type" if prof.conform_to_iod else "literally (--literal)"
    lines = [
        f"# {_describe(prof, profile_file)}: {_plural(len(resolved), 'rule')}",
        *([settings] if settings else []),
        f"# for SOP class {uid} ({where}), {how}, at the top level of the dataset",
        f"# actions: {legend}",
        "# TYPE: the attribute's type in the IOD (- not listed); EFFECTIVE: what is done "
        "(U*: the sequence kept, every UID inside replaced)",
        f"{'TAG':<{wp}}  {'KEYWORD':<{wk}}  {'ACTION':<{wa}}  {'TYPE':<{wt}}  "
        f"{'EFFECTIVE':<{we}}  NAME",
    ]
    lines += [
        f"{shown:<{wp}}  {keyword:<{wk}}  {action:<{wa}}  {ty:<{wt}}  {eff:<{we}}  {name}".rstrip()
        for shown, keyword, name, action, ty, eff in resolved
    ]
    click.echo("\n".join(lines))


@profile.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json", "xml"], case_sensitive=False),
    help="Output format [default: the -o file's extension].",
)
@_profile_options
@_literal_option
@_unlisted_option
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Write to FILE instead of standard output.",
)
def profile_export(
    fmt: str | None,
    profile_file: Path | None,
    options: tuple[str, ...],
    literal: bool,
    unlisted: str | None,
    output: Path | None,
) -> None:
    """Export the effective profile as CSV, JSON or XML (read back by --profile).

    The profile's settings that are not at their defaults come first (a
    --profile file's, --literal as conform_to_iod no, --unlisted keep), then
    its rules.
    """
    if fmt is None:
        suffix = output.suffix.lower().lstrip(".") if output is not None else ""
        if suffix not in ("csv", "json", "xml"):
            raise click.UsageError("give --format csv, json or xml")
        fmt = suffix
    prof = _build_profile(profile_file, options, literal, unlisted)
    export = getattr(prof, f"to_{fmt.lower()}")
    if output is None:
        try:
            text = export()
        except DicomveilError as e:
            raise click.ClickException(str(e)) from None
        click.echo(text, nl=not text.endswith("\n"))
        return
    try:
        export(output)
    except (DicomveilError, OSError) as e:
        raise click.ClickException(str(e)) from None


@profile.command("convert")
@click.argument("src", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json", "xml"], case_sensitive=False),
    help="Output format [default: the -o file's extension].",
)
@click.option(
    "--from",
    "src_format",
    type=click.Choice(list(profile_io.FORMATS), case_sensitive=False),
    help="The format of SRC, instead of recognising it from its content.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Write to FILE instead of standard output.",
)
def profile_convert(
    src: Path, fmt: str | None, src_format: str | None, output: Path | None
) -> None:
    """Convert a profile file (a CTP DicomAnonymizer script, or one of ours) into our CSV,
    JSON or XML form, read back by --profile to the same policy.

    A CTP script's parameters are written into its rules; its settings
    (conform_to_iod no, and unlisted keep or remove) come first. A lookup
    table is not part of the profile: give it again with --lookup-table.
    """
    if fmt is None:
        suffix = output.suffix.lower().lstrip(".") if output is not None else ""
        if suffix not in ("csv", "json", "xml"):
            raise click.UsageError("give --format csv, json or xml")
        fmt = suffix
    try:
        prof = ConfidentialityProfile.load(src, src_format)
    except (DicomveilError, OSError, UnicodeDecodeError) as e:
        raise click.BadParameter(str(e), param_hint="'SRC'") from None
    export = getattr(prof, f"to_{fmt.lower()}")
    try:
        if output is None:
            text = export()
            click.echo(text, nl=not text.endswith("\n"))
        else:
            export(output)
    except (DicomveilError, OSError) as e:
        raise click.ClickException(str(e)) from None


# -- dump -------------------------------------------------------------------------------------
@main.command()
# not click's exists=True: a file that is missing or unreadable is a failed command (exit 1,
# as docs/cli.md says), not a usage error
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--max-len",
    type=click.IntRange(min=8),
    default=64,
    show_default=True,
    metavar="N",
    help="Cut text values at N characters.",
)
def dump(file: Path, max_len: int) -> None:
    """List FILE's elements, nested, with VRs and values (to check results).

    This shows values: use it on de-identified files.
    """
    if file.is_dir():
        raise click.ClickException(f"{file}: is a folder; dump shows one file")
    if not file.exists():
        raise click.ClickException(f"{file}: no such file")
    try:
        text = DicomFile.open(file).dump(max_len)
    except (DicomveilError, OSError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(text, nl=not text.endswith("\n"))


# -- verify -----------------------------------------------------------------------------------
@main.command("verify")
@click.argument("out_dir", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--original",
    type=click.Path(exists=True, path_type=Path),
    metavar="SRC",
    help="The inputs: search the output for every identifying value they hold.",
)
@_profile_options
@_literal_option
@_unlisted_option
@click.option(
    "--workers", type=click.IntRange(min=1), metavar="N", help="Threads [default: all cores]."
)
@click.option(
    "--pixels",
    type=click.Choice(["burned-in", "all"]),
    is_flag=False,
    flag_value="burned-in",
    default=None,
    help="Also read the pixels by OCR: of the files that may carry burned-in text "
    "(--pixels, or --pixels burned-in), or of every image (--pixels all). Needs "
    "dicomveil[ocr].",
)
def verify_cmd(
    out_dir: Path,
    original: Path | None,
    profile_file: Path | None,
    options: tuple[str, ...],
    literal: bool,
    unlisted: str | None,
    workers: int | None,
    pixels: str | None,
) -> None:
    """Scan de-identified output for leaks; exit 1 on any finding.

    \b
    Checks every DICOM file under OUT_DIR (or OUT_DIR itself):
      identity-not-removed  PatientIdentityRemoved is not YES
      private-attribute     a private attribute the profile removes is present
      not-removed           an attribute the profile removes is present
      leak                  an identifying value of an original (--original) is
                            in this element (any VR, private and nested included)
      unreadable            the file is DICOM but cannot be read
      leftover              a temporary file of dicomveil (.dicomveil-*.part)
                            left by a run that was killed while writing it
      pixel-text            (--pixels) OCR read text in the pixels that the
                            profile's allow-list does not cover; the line adds
                            the text's class (identifying: it holds an
                            identifying value of --original; name, date, id,
                            other), never the text
      pixels-unchecked      (--pixels) a frame to read cannot be decoded

    --pixels reads every distinct frame (identical frames once) of the
    files that may carry burned-in text: BurnedInAnnotation YES, or a
    secondary capture, ultrasound or visible-light image (whatever its
    BurnedInAnnotation says); --pixels all reads every image.

    Give the --profile, --option, --literal and --unlisted the output was
    made with: an attribute the object's IOD requires is kept with a valid
    value where the profile would remove it, and is not a finding. Each
    finding is printed on standard output as FILE, TAG PATH, KIND and KEYWORD
    separated by tabs; values are never printed. The summary goes to standard
    error.
    """
    prof = _build_profile(profile_file, options, literal, unlisted)
    try:
        report = run_verify(
            out_dir,
            original=original,
            profile=prof,
            workers=workers,
            pixels=cast(PixelScope, pixels) if pixels else False,
        )
    except (DicomveilError, OSError) as e:
        raise click.ClickException(str(e)) from None
    lines = [
        f"{f.file}\t{f.path or '-'}\t{f.kind}\t{f.keyword or '-'}"
        + (f"\t{f.text_class}" if f.text_class else "")
        for f in report.findings
    ]
    if lines:
        click.echo("\n".join(lines))
    _err(f"dicomveil: {report.summary()}")
    sys.exit(0 if report.ok else 1)
