"""The image's health check: the job API's /health or the web app's page, whichever this container serves."""
from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    url = os.environ.get("HEALTH_URL")
    if not url:
        with open("/proc/1/cmdline", "rb") as handle:
            command = " " + " ".join(handle.read().decode(errors="replace").split("\0")[1:])
        if " serve" in command:
            url = "http://127.0.0.1:8000/health"
        elif " ui" in command:
            url = "http://127.0.0.1:7860/"
        else:
            return 0  # a CLI run: its exit code says how it went
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as error:
        print(f"unhealthy: {url}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
