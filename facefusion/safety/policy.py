"""The operator's safety settings: what a run must refuse and where decisions are written down.

These are not per-run options a user of the web app may change: the operator sets them when starting
the CLI or the app (``--protected-faces``, ``--audit-log``), and every run of that process follows them.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass

from ..errors import InvalidInputError


@dataclass(frozen=True)
class SafetyPolicy:
    protected_faces: str | None = None
    """A folder of photos of people who must never be swapped (see safety.protected)."""
    audit_log: str | None = None
    """A JSON-lines file every refusal and every marked output is appended to (see safety.audit)."""
    c2pa_cert: str | None = None
    """PEM certificate chain that signs the outputs' content credentials (see safety.provenance)."""
    c2pa_key: str | None = None
    """The certificate's PEM private key."""
    content_checks: tuple[str, ...] = ()
    """``nsfw`` and/or moderation service URLs the target and the output are checked with (safety.moderation)."""


def add_safety_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("safety (set by the operator)")
    group.add_argument("--protected-faces", metavar="FOLDER", default=None,
                       help="photos of people who must never be swapped, as source or as target (one photo per "
                            "person, or a sub-folder of photos per person): a run that uses one of them is "
                            "refused with exit code 3")
    group.add_argument("--audit-log", metavar="FILE", default=None,
                       help="append every refusal and every marked output to FILE as JSON lines (time, input "
                            "hashes, decision, watermark id)")
    group.add_argument("--c2pa-cert", metavar="FILE", default=None,
                       help="sign every jpg, png, webp, mp4 and mov output with content credentials (C2PA) made "
                            "with this PEM certificate chain (ES256); needs --c2pa-key")
    group.add_argument("--c2pa-key", metavar="FILE", default=None, help="the PEM private key of --c2pa-cert")
    group.add_argument("--content-check", nargs="+", default=[], metavar="CHECK",
                       help="refuse (exit code 3) targets and outputs a check rejects: nsfw (NudeNet's detector, "
                            "AGPL-3.0, an optional extra: make nsfw) and/or the URL of your moderation service, "
                            "which gets sampled frames as JPEG and answers {\"decision\": \"allow\" or \"deny\"}")


def policy_from_args(args: argparse.Namespace) -> SafetyPolicy:
    cert, key = getattr(args, "c2pa_cert", None), getattr(args, "c2pa_key", None)
    if (cert is None) != (key is None):
        raise InvalidInputError("--c2pa-cert and --c2pa-key go together: give both, or neither")
    return SafetyPolicy(protected_faces=getattr(args, "protected_faces", None),
                        audit_log=getattr(args, "audit_log", None), c2pa_cert=cert, c2pa_key=key,
                        content_checks=tuple(getattr(args, "content_check", None) or ()))
