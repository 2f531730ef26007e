"""Type stubs of the Rust extension module (src/python.rs)."""

import os
from collections.abc import Callable
from typing import Any, final

__all__ = [
    "CompiledProfile",
    "Dataset",
    "EDITION",
    "ERROR_KINDS",
    "Engine",
    "PathPlan",
    "TEMP_PREFIX",
    "TEMP_SUFFIX",
    "__version__",
    "check_naming",
    "check_paths",
    "check_pattern",
    "default_rules",
    "format_tag",
    "is_temp_name",
    "keyword_to_tag",
    "list_tree",
    "merge_report",
    "name_collisions",
    "table_rows",
    "tag_to_keyword",
    "verify",
]
__version__: str
EDITION: str
ERROR_KINDS: list[str]
TEMP_PREFIX: str
TEMP_SUFFIX: str

@final
class Dataset:
    @staticmethod
    def open_path(path: str) -> Dataset: ...
    @staticmethod
    def open_bytes(data: bytes, name: str) -> Dataset: ...
    def save(self, path: str) -> None: ...
    def to_bytes(self) -> bytes: ...
    def copy(self) -> Dataset: ...
    @property
    def transfer_syntax_uid(self) -> str: ...
    @property
    def name(self) -> str: ...
    def tags(self) -> list[int]: ...
    def vr(self, tag: int) -> str | None: ...
    def contains(self, tag: int) -> bool: ...
    def __len__(self) -> int: ...
    def get(self, tag: int) -> Any: ...
    def set(self, tag: int, value: Any, vr: str | None = None) -> None: ...
    def delete(self, tag: int) -> bool: ...
    def dump(self, max_len: int = 64) -> str: ...

@final
class CompiledProfile:
    def __new__(
        cls,
        rules: list[tuple[str, str]],
        source_name: str,
        method: list[str],
        codes: list[tuple[str, str]],
    ) -> CompiledProfile: ...
    @property
    def temporal(self) -> str: ...

@final
class Engine:
    def __new__(
        cls,
        profile: CompiledProfile,
        key: bytes,
        patient_name: bytes | None = None,
        patient_id: bytes | None = None,
        pseudonymize_name: bool = False,
        pseudonymize_id: bool = False,
        burned_in: str = "warn",
        record_uids: bool = True,
    ) -> Engine: ...
    def uid_map(self) -> list[tuple[str, str]]: ...
    def anonymize(self, dataset: Dataset) -> list[str]: ...
    def anonymize_file(self, src: str, dst: str) -> list[str]: ...
    def anonymize_tree(
        self,
        src: str,
        dst: str,
        workers: int = 0,
        recursive: bool = True,
        naming: str | None = None,
        stop_on_error: bool = False,
        dry_run: bool = False,
        progress: Callable[[int, int, int, int], object] | None = None,
        tick: float = 0.2,
        files: list[str] | None = None,
        audit: str | None = None,
    ) -> dict[str, Any]: ...
    def map_uid(self, uid: str) -> str: ...

def verify(
    out: str, original: str | None, profile: CompiledProfile, workers: int = 0
) -> tuple[list[tuple[str, str, str]], int]: ...
def default_rules(options: int) -> list[tuple[str, str, str]]: ...
def table_rows() -> list[tuple[str, str, str, str, list[str]]]: ...
def check_pattern(pattern: str) -> None: ...
def keyword_to_tag(keyword: str) -> int | None: ...
def tag_to_keyword(tag: int) -> str | None: ...
def format_tag(tag: int) -> str: ...

_Path = str | os.PathLike[str]

@final
class PathPlan:
    @property
    def folder(self) -> bool: ...
    @property
    def in_place(self) -> bool: ...
    @property
    def output(self) -> str | None: ...

def check_naming(template: str) -> None: ...
def check_paths(
    src: _Path,
    dst: _Path,
    audit: _Path | None = None,
    in_place_allowed: bool = True,
    naming: bool = False,
) -> PathPlan: ...
def list_tree(
    src: _Path, recursive: bool = True
) -> tuple[list[str], list[int], list[str], list[tuple[str, str]]]: ...
def merge_report(
    sources: list[str], links: list[str], unreadable: list[tuple[str, str]]
) -> list[tuple[int, str, str, str, str | None]]: ...
def name_collisions(
    sources: list[str], outputs: list[str | None]
) -> list[tuple[int, int, str, str]]: ...
def is_temp_name(name: str) -> bool: ...
