"""The operator's safety settings: what a run must refuse and where decisions are written down.

These are not per-run options a user of the web app may change: the operator sets them when starting
the CLI or the app (``--protected-faces``, ``--audit-log``), and every run of that process follows them.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass


@dataclass(frozen=True)
class SafetyPolicy:
    protected_faces: str | None = None
    """A folder of photos of people who must never be swapped (see safety.protected)."""
    audit_log: str | None = None
    """A JSON-lines file every refusal and every marked output is appended to (see safety.audit)."""


def add_safety_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("safety (set by the operator)")
    group.add_argument("--protected-faces", metavar="FOLDER", default=None,
                       help="photos of people who must never be swapped, as source or as target (one photo per "
                            "person, or a sub-folder of photos per person): a run that uses one of them is "
                            "refused with exit code 3")
    group.add_argument("--audit-log", metavar="FILE", default=None,
                       help="append every refusal and every marked output to FILE as JSON lines (time, input "
                            "hashes, decision, watermark id)")


def policy_from_args(args: argparse.Namespace) -> SafetyPolicy:
    return SafetyPolicy(protected_faces=getattr(args, "protected_faces", None),
                        audit_log=getattr(args, "audit_log", None))
