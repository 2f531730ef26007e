"""Anonymizer: applies a confidentiality profile with keyed, deterministic replacements."""

from __future__ import annotations

import io
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from . import _core
from .errors import (
    BurnedInAnnotationWarning,
    FileAccessError,
    ProfileError,
    WeakKeyWarning,
    WeakProfileWarning,
)
from .file import DicomFile
from .ocr import AllowList, text_finder
from .pixels import PixelBox, box_tuples
from .profile import ConfidentialityProfile
from .pseudonym import Pseudonym
from .report import Progress, Report

if TYPE_CHECKING:  # pydicom is optional
    from pydicom.dataset import Dataset

__all__ = ["MAX_KEY_BYTES", "MIN_KEY_BYTES", "Anonymizer", "load_key"]

T = TypeVar("T", "DicomFile", "Dataset")


#: The most bytes a key (or a key file) may hold: a secret, not data.
MAX_KEY_BYTES = 4096
#: Keys shorter than this are accepted with a :class:`WeakKeyWarning`.
MIN_KEY_BYTES = 16


def _warn_weak(compiled: _core.CompiledProfile) -> None:
    """Warn, once per engine, that outputs will say NO in (0012,0062), and why."""
    weaker = compiled.weaker
    if not weaker:
        return
    shown = [
        f"{keyword or pattern} {code or 'kept'} (Basic: {basic})"
        for pattern, keyword, code, basic in weaker[:5]
    ]
    more = f" and {len(weaker) - 5} more" if len(weaker) > 5 else ""
    warnings.warn(
        f"the profile is weaker than the PS3.15 Basic profile and its options for "
        f"{len(weaker)} attribute{'s' if len(weaker) != 1 else ''} of Table E.1-1: "
        f"{', '.join(shown)}{more}; outputs say NO in PatientIdentityRemoved (0012,0062)",
        WeakProfileWarning,
        stacklevel=4,
    )


def warn_burned_in(report: Report) -> None:
    """After a tree run with ``burned_in="warn"``: one :class:`BurnedInAnnotationWarning` for
    the run, with the number of files flagged (``Report.flagged`` lists them)."""
    n = sum(1 for r in report.flagged if "burned-in-annotation" in r.flags)
    if n:
        files = "1 file" if n == 1 else f"{n} files"
        _warn_caller(
            f"{files} may carry burned-in annotation; review their pixels "
            "(Report.flagged lists them)",
            BurnedInAnnotationWarning,
        )


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _warn_caller(message: str, category: type[Warning]) -> None:
    """Warn with the caller's line: the first frame outside this package (however deep the
    call came from inside it)."""
    level = 2  # warnings.warn's level of our caller
    frame = sys._getframe(1)
    while frame is not None and os.path.dirname(frame.f_code.co_filename) == _PACKAGE_DIR:
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    warnings.warn(message, category, stacklevel=level)


def load_key(
    key: bytes | str | None = None, key_file: str | os.PathLike[str] | None = None
) -> bytes:
    """The secret of the keyed replacements: ``key`` (bytes, or str as UTF-8), or the bytes of
    ``key_file`` (one trailing newline removed), or a fresh random 32-byte key when neither is
    given. Every key is checked here, wherever it comes from (API, CLI, Dask workers).

    Refused: an empty key, a key made of one repeated byte, more than :data:`MAX_KEY_BYTES`
    (a key file is read no further than that, so ``/dev/zero`` costs nothing). A key shorter
    than :data:`MIN_KEY_BYTES` gives a :class:`~dicomveil.errors.WeakKeyWarning`. Messages
    never show the key.

    Raises:
        ValueError: ``key`` is refused, or both are given.
        TypeError: ``key`` is not bytes or str.
        FileAccessError: ``key_file`` cannot be read, or what it holds is refused.
    """
    if key is not None and key_file is not None:
        raise ValueError("give key or key_file, not both")
    if key_file is not None:
        where = os.fspath(key_file)
        try:
            with open(key_file, "rb") as f:
                data = f.read(MAX_KEY_BYTES + 1)
        except OSError as e:
            raise FileAccessError(f"{where}: cannot read the key file: {e.strerror or e}") from None
        if len(data) > MAX_KEY_BYTES:
            raise FileAccessError(
                f"{where}: the key file holds more than {MAX_KEY_BYTES} bytes: a key is a "
                "secret of at most 4 KiB (e.g. 32 random bytes: head -c 32 /dev/urandom)"
            )
        if data.endswith(b"\r\n"):
            data = data[:-2]
        elif data.endswith(b"\n"):
            data = data[:-1]
        problem = _key_problem(data)
        if problem is not None:
            raise FileAccessError(f"{where}: the key file {problem}")
        _warn_if_short(data, f"the key of {where}")
        return data
    if key is None:
        return os.urandom(32)  # what secrets.token_bytes uses, without importing it
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, (bytes, bytearray, memoryview)):
        raise TypeError("key must be bytes or str")
    key = bytes(key)
    if len(key) > MAX_KEY_BYTES:
        raise ValueError(f"the key is longer than {MAX_KEY_BYTES} bytes: a key is a secret")
    problem = _key_problem(key)
    if problem is not None:
        raise ValueError(f"the key {problem}")
    _warn_if_short(key, "the key")
    return key


def _key_problem(key: bytes) -> str | None:
    if not key:
        return "is empty: anyone could recompute every replacement"
    if len(set(key)) == 1:
        return "is one byte repeated: anyone could guess it"
    return None


def _warn_if_short(key: bytes, what: str) -> None:
    if len(key) < MIN_KEY_BYTES:
        warnings.warn(
            f"{what} has {len(key)} bytes, fewer than {MIN_KEY_BYTES}: a short key can be "
            "guessed (use e.g. 32 random bytes: head -c 32 /dev/urandom > site.key)",
            WeakKeyWarning,
            stacklevel=4,
        )


def _ascii(value: str | Pseudonym | None, what: str) -> bytes | None:
    if value is None or isinstance(value, Pseudonym):
        return None
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, a Pseudonym or None, not {type(value).__name__}")
    try:
        return value.encode("ascii")
    except UnicodeEncodeError:
        raise ProfileError(
            f"{what} must be ASCII (it is written into every character set)"
        ) from None


class Anonymizer:
    """De-identifies DICOM files with a confidentiality profile.

    Args:
        profile: the rules to apply; default: PS3.15 Table E.1-1, Basic profile.
        key: secret for the keyed replacements (bytes, or str as UTF-8). New UIDs are
            ``2.25.<first 128 bits of HMAC-SHA256(key, old UID)>``; date offsets and
            pseudonyms are derived likewise. The same key gives the same results in every run,
            process and machine, and nobody without it can compute or reverse them. Without a
            key, a random one is drawn for this Anonymizer (consistent within the instance).
        key_file: read the key from this file instead (its bytes, one trailing newline
            removed).
        burned_in: files that may carry burned-in annotation (BurnedInAnnotation YES, or a
            secondary capture, ultrasound or visible-light image without BurnedInAnnotation NO):
            ``"warn"`` (default) processes them, flags them in reports and warns with
            :class:`BurnedInAnnotationWarning`; ``"refuse"`` raises
            :class:`BurnedInAnnotationError`; ``"allow"`` processes them silently.
        keep_uid_map: remember every UID mapping for :meth:`uid_map` (about 150 bytes each,
            so off by default: a tree of a million files maps millions of UIDs). Opt in for
            an audit of the mapping of a run of a size that fits in memory.
        pixel_text: ``"redact"``: text burned into the pixels of the files that may carry
            it (the burned-in test above) is found by OCR in every distinct frame, and each
            run of words not on the profile's allow-list
            (:attr:`ConfidentialityProfile.pixel_text_allow`) is blanked, its box grown by a
            margin, in every transfer syntax boxes are blanked in; the report's ``pixels``
            says which boxes. Fail closed: a file that needs OCR is refused
            (:class:`~dicomveil.errors.OcrUnavailableError`) when tesserocr or its model is
            missing (``pip install 'dicomveil[ocr]'``), and (``PixelDataError``) when a frame
            cannot be decoded. ``"off"`` (default): the pixels are not read. See docs/ocr.md.
    """

    def __init__(
        self,
        profile: ConfidentialityProfile | None = None,
        key: bytes | str | None = None,
        *,
        key_file: str | os.PathLike[str] | None = None,
        burned_in: Literal["warn", "refuse", "allow"] = "warn",
        keep_uid_map: bool = False,
        pixel_text: Literal["off", "redact"] = "off",
    ) -> None:
        if burned_in not in ("warn", "refuse", "allow"):
            raise ValueError("burned_in must be 'warn', 'refuse' or 'allow'")
        if pixel_text not in ("off", "redact"):
            raise ValueError("pixel_text must be 'off' or 'redact'")
        self._pixel_text = pixel_text
        self._profile = profile if profile is not None else ConfidentialityProfile.create_default()
        self._key = load_key(key, key_file)
        self._burned_in = burned_in
        self._keep_uid_map = keep_uid_map
        self._engine: _core.Engine | None = None
        self._uid_map_before: dict[str, str] = {}
        self._engine_for: tuple[Any, ...] | None = None

    def __repr__(self) -> str:
        # never show the key
        return f"<Anonymizer profile={self._profile!r}>"

    @property
    def profile(self) -> ConfidentialityProfile:
        """The profile applied."""
        return self._profile

    @property
    def pixel_text(self) -> str:
        """``"redact"`` when text found in the pixels by OCR is blanked, else ``"off"``."""
        return self._pixel_text

    def _get_engine(self) -> _core.Engine:
        p = self._profile
        compiled = p._compile()
        state = (compiled, p.patient_name, p.patient_id, p.pixel_text_allow)
        if (
            self._engine is None
            or self._engine_for is None
            or any(a is not b for a, b in zip(state, self._engine_for, strict=True))
        ):
            previous = self._engine
            self._engine = _core.Engine(
                compiled,
                self._key,
                _ascii(p.patient_name, "patient_name"),
                _ascii(p.patient_id, "patient_id"),
                isinstance(p.patient_name, Pseudonym),
                isinstance(p.patient_id, Pseudonym),
                self._burned_in,
                self._keep_uid_map,
                text_finder=(
                    text_finder(AllowList(p.pixel_text_allow))
                    if self._pixel_text == "redact"
                    else None
                ),
            )
            if previous is not None:
                self._uid_map_before.update(previous.uid_map())
            self._engine_for = state
            _warn_weak(compiled)
        return self._engine

    def anonymize(self, x: T, *, boxes: Iterable[PixelBox | tuple[int, ...]] | None = None) -> T:
        """A de-identified copy of ``x`` (a :class:`DicomFile` or a pydicom ``Dataset``).

        ``boxes``: regions of the pixels to blank besides what the profile's pixel rules name
        (:class:`~dicomveil.pixels.PixelBox`, or ``(x, y, w, h)`` / ``(x, y, w, h, frame)``
        tuples; no frame: every frame), e.g. text found in :meth:`DicomFile.frames`. A file
        whose pixels must be cleaned and cannot be (compressed) raises
        :class:`~dicomveil.errors.PixelDataError`.
        """
        if isinstance(x, DicomFile):
            out = x.copy()
            self._run(out, boxes)
            return out
        return self._pydicom(x, in_place=False, boxes=boxes)

    def anonymize_in_place(
        self,
        x: DicomFile | Dataset,
        *,
        boxes: Iterable[PixelBox | tuple[int, ...]] | None = None,
    ) -> None:
        """De-identify ``x`` itself (a :class:`DicomFile` or a pydicom ``Dataset``); ``boxes``
        as for :meth:`anonymize`."""
        if isinstance(x, DicomFile):
            self._run(x, boxes)
            return
        self._pydicom(x, in_place=True, boxes=boxes)

    def _run(self, f: DicomFile, boxes: Iterable[PixelBox | tuple[int, ...]] | None) -> None:
        flags, pixels = self._get_engine().anonymize(f._ds, box_tuples(boxes))
        f._pixels = pixels
        self._warn(flags, f.name)

    def _warn(self, flags: list[str], name: str) -> None:
        if "burned-in-annotation" in flags:
            _warn_caller(
                f"{name}: may carry burned-in annotation; review its pixels",
                BurnedInAnnotationWarning,
            )

    def anonymize_file(self, src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        """Read ``src``, de-identify it and write ``dst`` atomically, all in the Rust engine.

        ``src`` is never modified (unless ``dst`` is the same path).
        """
        flags, _ = self._get_engine().anonymize_file(os.fspath(src), os.fspath(dst))
        self._warn(flags, os.fspath(src))

    def anonymize_tree(
        self,
        src_dir: str | os.PathLike[str],
        dst_dir: str | os.PathLike[str],
        *,
        workers: int | None = None,
        recursive: bool = True,
        progress: Callable[[Progress], object] | None = None,
        on_error: Literal["continue", "stop", "raise"] = "continue",
        naming: str | None = None,
        dry_run: bool = False,
        audit: str | os.PathLike[str] | None = None,
        progress_interval: float = 0.2,
        files: Sequence[str | os.PathLike[str]] | None = None,
        lock: bool = True,
    ) -> Report:
        """De-identify every file under ``src_dir`` into ``dst_dir``, in parallel in Rust.

        The output mirrors the input's relative paths, or follows ``naming``, a template of
        ``{Keyword}`` fields filled from the de-identified dataset, e.g.
        ``"{StudyInstanceUID}/{SeriesInstanceUID}/{SOPInstanceUID}.dcm"``. Files that are not
        DICOM, and DICOMDIRs, are skipped and counted. Every output is written to a temporary
        name and renamed when complete; a failed file leaves nothing behind. ``dst_dir`` equal
        to ``src_dir`` works in place; a ``dst_dir`` inside ``src_dir`` is refused. ``src_dir``
        may also be one file: ``dst_dir`` is then the output file, or a folder when it is one,
        ends with a separator or ``naming`` is given.

        Args:
            workers: threads; default: the available cores.
            recursive: descend into sub-folders.
            progress: called with a :class:`Progress` about every ``progress_interval``
                seconds and once at the end (from the calling thread).
            on_error: ``"continue"`` past refused files (default), ``"stop"`` at the first,
                or ``"raise"``: stop and raise the first refused file's error.
            dry_run: decide everything, write nothing.
            audit: also write the audit log (JSON Lines, one line per input) to this path.
                The engine writes each line as its file completes, to a temporary file
                beside the log, renamed to it when the run ends (also after an
                interruption): the log is complete or absent. Its folder must be writable:
                that is checked before any file is touched.
            files: only these files, given relative to ``src_dir``, instead of everything in
                it (how a larger run is split into batches; ``recursive`` is then unused). A
                file given twice is processed once; its second mention is skipped.
            lock: hold the destination's lock for the run (the default): the file
                ``.dicomveil.lock`` in ``dst_dir`` (in ``src_dir`` in place; in the output's
                folder for one file), locked with ``flock`` so that the system releases it
                however the run ends; and remove the temporary files earlier runs left in the
                folders written to (``Report.leftovers_removed``). False only when the caller
                holds the lock and other parts of its run may be writing (the batches of a
                distributed run). A dry run does neither.

        Returns:
            a :class:`Report`. The GIL is released for the whole run. Memory does not grow
            with the number of files: the report keeps counts and refused files, and reads
            every file's line back from the run's rows when asked
            (:attr:`Report.files`, :meth:`Report.iter_files`).

        Raises:
            NamingTemplateError: a malformed ``naming`` template (unknown keyword, unbalanced
                braces, an absolute or ``..`` path, no field), before any file is touched. It
                is a ``ValueError``.
            PathError: paths that cannot be used as asked, before any file is touched: a
                ``dst_dir`` inside ``src_dir`` or containing it, the output of a one-file run
                that would be its source, an ``audit`` path that is a folder, in a missing
                folder, or would overwrite an input or an output. It is both a
                ``DicomValueError`` and a ``FileAccessError``.
            FileAccessError: ``src_dir`` cannot be read; or the audit log could not be
                written during the run (a full disk): the run went on, and its complete
                report is the exception's ``report`` attribute.
            DestinationBusyError: another run holds the destination's lock (the message
                names the lock file and that run's pid, host and start time). A one-file run
                waits up to 10 s for it first.
        """
        if on_error not in ("continue", "stop", "raise"):
            raise ValueError("on_error must be 'continue', 'stop' or 'raise'")
        if workers is not None and workers < 1:
            raise ValueError("workers must be at least 1")
        callback = None
        if progress is not None:

            def callback(finished: int, total: int, refused: int, bytes_in: int) -> None:
                progress(Progress(finished, total, refused, bytes_in))

        raw = self._get_engine().anonymize_tree(
            os.fspath(src_dir),
            os.fspath(dst_dir),
            workers or 0,
            recursive,
            naming,
            on_error != "continue",
            dry_run,
            callback,
            progress_interval,
            None if files is None else [os.fspath(f) for f in files],
            None if audit is None else os.fspath(audit),
            lock=lock,
        )
        report = Report._from_core(raw)
        if raw.get("error") is not None:
            # interrupted (Ctrl-C, or the progress callback raised): the outputs written so far
            # are complete and the audit log lists them; the interruption goes on up
            error = raw["error"]
            error.report = report
            raise error
        if raw.get("audit_error") is not None:
            # the run went on; its report (complete) goes with the error
            error = raw["audit_error"]
            error.report = report
            raise error
        if on_error == "raise":
            report._raise_first_refused()
        warn_burned_in(report)
        return report

    def uid_map(self) -> dict[str, str]:
        """Every UID this Anonymizer has mapped so far, ``{old: new}`` (for audit).

        Empty when created with ``keep_uid_map=False``. The key is never part of it.
        """
        mapping = dict(self._uid_map_before)
        if self._engine is not None:
            mapping.update(self._engine.uid_map())
        return mapping

    def map_uid(self, uid: str) -> str:
        """The UID this Anonymizer writes in place of ``uid``."""
        return self._get_engine().map_uid(uid)

    def _pydicom(
        self,
        ds: Any,
        in_place: bool,
        boxes: Iterable[PixelBox | tuple[int, ...]] | None = None,
    ) -> Any:
        try:
            import pydicom
            from pydicom.dataset import Dataset
        except ImportError as e:  # pragma: no cover - only without pydicom
            raise TypeError(
                f"cannot anonymize {type(ds).__name__}: give a DicomFile or a pydicom Dataset"
            ) from e
        if not isinstance(ds, Dataset):
            raise TypeError(
                f"cannot anonymize {type(ds).__name__}: give a DicomFile or a pydicom Dataset"
            )
        buf = io.BytesIO()
        meta = getattr(ds, "file_meta", None)
        if meta is not None and "TransferSyntaxUID" in meta:
            pydicom.dcmwrite(buf, ds, enforce_file_format=True)
        else:
            pydicom.dcmwrite(buf, ds, implicit_vr=True, little_endian=True)
        f = DicomFile.open(buf.getvalue())
        self._run(f, boxes)
        new = pydicom.dcmread(io.BytesIO(f.to_bytes()))
        if not in_place:
            return new
        ds.clear()
        ds.update(new)
        ds.file_meta = new.file_meta
        if hasattr(ds, "preamble"):
            ds.preamble = new.preamble
        return ds
