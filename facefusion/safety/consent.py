"""Consent: a swap runs only for a caller who says that the people whose faces it uses have agreed.

The page asks with a checkbox once per session; the API's swaps take the answer as an argument each time;
the CLI prints a reminder (scripts must run unattended, so it does not ask).
"""
from __future__ import annotations

from ..errors import RefusedError


def require_consent(agreed: object, how: str) -> None:
    """Raise RefusedError unless ``agreed`` is True; ``how``: how this caller gives consent."""
    if agreed is not True:
        raise RefusedError(f"consent: confirm that the people whose faces are used have agreed to it ({how}); "
                           "nothing was run")
