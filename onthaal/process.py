"""Ending the process.

libqi-python (qi 3.1.5) can abort the interpreter while it is being finalised: one of
libqi's event-loop threads calls ``std::terminate`` while the main thread tears the
module down (seen as "terminate called without an active exception" and exit status
134, intermittently). Once libqi has been loaded, we therefore flush everything and end
the process with ``os._exit`` instead of letting the interpreter finalise; by then every
session has been closed and every file flushed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys


def finish(code: int) -> None:
    """Exit with ``code``, skipping interpreter finalisation if libqi was loaded."""
    if "qi" not in sys.modules:
        raise SystemExit(code)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
