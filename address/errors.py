"""Exceptions of the address service.

They derive from :class:`gis.errors.CoreError` so the one error table in
``spatial_api`` maps them; :class:`AddressInputError` is an
:class:`~gis.errors.InvalidQuery` and therefore becomes HTTP 400 there. The
messages are safe to show to a client.
"""

from __future__ import annotations

import re

from gis.errors import CoreError, InvalidQuery

#: Longest address text accepted (characters).
MAX_TEXT_CHARS = 500
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")


class AddressError(CoreError):
    """Base class of the address service's deliberate errors."""


class AddressInputError(AddressError, InvalidQuery):
    """The input is not a usable address text (empty, too long, not text, bad number...)."""


class AddressParseError(AddressInputError):
    """Address text that cannot be parsed at all (kept for the error table's name)."""


def check_text(value: object, *, what: str = "address text") -> str:
    """Return ``value`` if it is a non-empty string of at most ``MAX_TEXT_CHARS``
    characters (after stripping); else raise :class:`AddressInputError`."""
    if not isinstance(value, str):
        raise AddressInputError(f"{what} must be a string")
    text = value.strip()
    if not text:
        raise AddressInputError(f"{what} is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise AddressInputError(
            f"{what} is too long ({len(text)} characters; at most {MAX_TEXT_CHARS})")
    if _CONTROL.search(text):
        raise AddressInputError(f"{what} is not text (it contains control characters)")
    return text
