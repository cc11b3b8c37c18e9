"""Print uv's flags for the package sources pip is configured with on this machine.

``make setup`` installs with uv (about half a minute where pip takes about three); a machine's pip
configuration (a local wheel folder, a mirror, a constraints file) then applies to uv as it would to pip,
and uv picks the best version across them as pip does.
"""
from __future__ import annotations

import ast
import subprocess
import sys

UV_FLAG = {"find-links": "--find-links", "index-url": "--index-url", "extra-index-url": "--extra-index-url",
           "constraint": "--constraint"}


def pip_settings() -> list[tuple[str, str]]:
    """(setting, value) for every value pip's ``config list`` shows (files and PIP_* variables)."""
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True)
    settings = []
    for line in listed.stdout.splitlines():
        key, _, quoted = line.partition("=")
        try:
            value = ast.literal_eval(quoted)
        except (SyntaxError, ValueError):
            continue
        for item in str(value).split():
            settings.append((key.rsplit(".", 1)[-1], item))
    return settings


def uv_flags(settings: list[tuple[str, str]]) -> list[str]:
    flags: list[str] = []
    for name, value in dict.fromkeys(settings):  # the same source named in two places is passed once
        if name in UV_FLAG:
            flags += [UV_FLAG[name], value]
    return flags


if __name__ == "__main__":
    print(" ".join(uv_flags(pip_settings())))
