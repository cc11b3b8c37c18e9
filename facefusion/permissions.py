"""The mode a new file of the user's should get. Files written through ``tempfile.mkstemp`` (for atomic
writes) start private (0600); a result or a model file is an ordinary file, so it is given the mode
``open()`` would have given it: 0666 less the user's umask."""
from __future__ import annotations

import os
import threading

_lock = threading.Lock()


def default_file_mode() -> int:
    # The umask can only be read by setting it; the lock keeps two threads from doing that at once.
    with _lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask
