"""Error kinds: the engine names each error's class, and one helper turns the name into it."""

from __future__ import annotations

import dicomveil
import pytest
from dicomveil import _core, errors


def test_every_engine_kind_is_a_class_of_that_name() -> None:
    assert len(_core.ERROR_KINDS) == len(set(_core.ERROR_KINDS)) > 5
    for kind in _core.ERROR_KINDS:
        cls = errors.error_class(kind)
        assert cls.__name__ == kind
        assert issubclass(cls, dicomveil.DicomveilError)
        assert kind in errors.__all__


def test_unknown_kinds_are_the_base_class() -> None:
    assert errors.error_class("KilledWorker") is dicomveil.DicomveilError
    assert errors.error_class(None) is dicomveil.DicomveilError
    assert errors.error_class("ValueError") is dicomveil.DicomveilError  # not ours
    assert errors.error_class("error_class") is dicomveil.DicomveilError


def test_new_classes_are_caught_as_the_classes_raised_before() -> None:
    # a path error was a DicomValueError (destination) or a FileAccessError (audit log)
    assert issubclass(errors.PathError, dicomveil.DicomValueError)
    assert issubclass(errors.PathError, dicomveil.FileAccessError)
    assert issubclass(errors.PathError, ValueError)
    assert issubclass(errors.PathError, OSError)
    # a naming template error was a ValueError (checked before the run) or a DicomValueError
    assert issubclass(errors.NamingTemplateError, dicomveil.DicomValueError)
    with pytest.raises(OSError):
        raise errors.PathError("p: a problem")
