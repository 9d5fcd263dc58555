"""Structured logging: human-readable lines by default, JSON lines on request.

Every line carries the supervised child it came from (``child``), taken from the
:data:`onthaal.supervisor.current_child` context variable, so interleaved output from
concurrent children stays readable. Extra fields passed with ``extra={...}`` are shown
as ``key=value`` (human) or as JSON keys.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal, TextIO

from onthaal.supervisor import current_child

LogFormat = Literal["human", "json"]

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "child",
    "taskName",
    "sim_time",
}


# While a simulation runs: its time of day (local), which log lines show instead of
# the wall clock, since they describe the simulated day.
_simulated_now: Callable[[], datetime] | None = None


def use_simulated_time(now: Callable[[], datetime] | None) -> None:
    """Stamp log lines with ``now()`` (a simulated, local time) until called with None."""
    global _simulated_now
    _simulated_now = now


class _ChildFilter(logging.Filter):
    """Stamp each record with the supervised child it was logged from (and sim time)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "child"):
            record.child = current_child.get()
        if _simulated_now is not None and not hasattr(record, "sim_time"):
            record.sim_time = _simulated_now()
        return True


def _stamp(record: logging.LogRecord) -> str:
    simulated = getattr(record, "sim_time", None)
    if isinstance(simulated, datetime):
        return "sim " + simulated.strftime("%H:%M:%S.%f")[:-3]
    return datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S.%f")[:-3]


def _extras(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, child, msg and any extras."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as a single JSON line."""
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "child": getattr(record, "child", "-"),
            "msg": record.getMessage(),
        }
        simulated = getattr(record, "sim_time", None)
        if isinstance(simulated, datetime):
            entry["sim_ts"] = simulated.isoformat(timespec="milliseconds")
        entry.update(_extras(record))
        if record.exc_info and record.exc_info[0] is not None:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class HumanFormatter(logging.Formatter):
    """``12:00:01.234 INFO  [child] message key=value`` for people at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as one readable line (plus a traceback at debug level)."""
        ts = _stamp(record)
        extras = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        line = f"{ts} {record.levelname:<7} [{getattr(record, 'child', '-')}] {record.getMessage()}"
        if extras:
            line = f"{line}  {extras}"
        if record.exc_info and record.exc_info[0] is not None and record.levelno < logging.INFO:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


CHATTY_LIBRARIES = ("amqtt", "transitions", "bumble")


class _StandardError(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record comes, not when it was made
    (a program, or a test, may replace it; a closed old one lost the line)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure_logging(
    fmt: LogFormat = "human", level: str = "INFO", stream: TextIO | None = None
) -> None:
    """Route all logging to ``stream`` (stderr by default) in the chosen format."""
    handler: logging.Handler = (
        logging.StreamHandler(stream) if stream is not None else _StandardError()
    )
    handler.setFormatter(JsonFormatter() if fmt == "json" else HumanFormatter())
    handler.addFilter(_ChildFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Libraries that narrate every state change at info level: only their problems.
    for chatty in CHATTY_LIBRARIES:
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))


def logging_in_use() -> tuple[LogFormat, str]:
    """The format and level :func:`configure_logging` set (for a child process to match)."""
    root = logging.getLogger()
    json_lines = any(isinstance(h.formatter, JsonFormatter) for h in root.handlers)
    return ("json" if json_lines else "human"), logging.getLevelName(root.level).lower()
