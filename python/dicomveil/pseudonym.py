"""Pseudonym: ask for a keyed pseudonym instead of a fixed value."""

from __future__ import annotations

__all__ = ["Pseudonym"]


class Pseudonym:
    """Set ``profile.patient_id = Pseudonym()`` (or ``patient_name``) to replace the value
    with one derived from the original by HMAC-SHA256 with the Anonymizer's key: one patient
    keeps one pseudonym across files, runs and machines with the same key, and nobody without
    the key can compute or reverse it.

    PatientID becomes 16 upper-case hex digits; PatientName becomes ``ANONYMOUS^`` followed
    by 16 hex digits.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "Pseudonym()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pseudonym)

    def __hash__(self) -> int:
        return hash(Pseudonym)
