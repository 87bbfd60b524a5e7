"""Named pause points for crash-safety tests.

``AGGREGATOR_PAUSE_AT=point:/path/to/marker`` makes the process write the
marker file and sleep when it reaches `point`, so a test can SIGKILL it at
exactly that moment (e.g. after the receiver accepted an alert but before
the outbox row was marked sent). Unset in production: a no-op.
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def pause_point(name: str) -> None:
    spec = os.environ.get("AGGREGATOR_PAUSE_AT")
    if not spec or not spec.startswith(name + ":"):
        return
    Path(spec.split(":", 1)[1]).write_text(str(os.getpid()))
    time.sleep(300)
