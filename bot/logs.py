"""Structured logs: one JSON object a line, event names and numbers, never message text or identities."""

from __future__ import annotations

import io
import json
import logging
import math
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

_SAFE = (str, int, float, bool, type(None))
_PLAIN = frozenset(_SAFE)  # the types themselves: a set lookup, before isinstance for their subclasses
_LEVELS = {name: name.lower() for name in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")}
_second: tuple[float, str] = (-1.0, "")  # the last second written, and its date and time of day


def timestamp(created: float) -> str:
    """`datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")`, the same text (microseconds
    rounded half to even as datetime rounds them, then cut to milliseconds) with the date and time of day
    worked out once a second: a third of the time, and a web chat message writes a line (issue 23). The
    second and its text are one tuple, replaced whole: a thread logging meanwhile sees both or neither."""
    global _second
    fraction, second = math.modf(created)
    micro = round(fraction * 1e6)
    if micro >= 1_000_000:
        micro -= 1_000_000
        second += 1.0
    elif micro < 0:  # before 1970
        micro += 1_000_000
        second -= 1.0
    known = _second
    if known[0] != second:
        day = datetime.fromtimestamp(second, UTC).isoformat(timespec="seconds").removesuffix("+00:00")
        known = _second = (second, day)
    return f"{known[1]}.{micro // 1000:03d}+00:00"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        levelname = record.levelname
        entry: dict[str, Any] = {
            "ts": timestamp(record.created),
            "level": _LEVELS.get(levelname) or levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                if type(value) in _PLAIN or isinstance(value, _SAFE):
                    entry[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            # The exception type and where, not its message: messages can carry user text.
            entry["error"] = record.exc_info[0].__name__
        try:  # orjson: a line a message, in a third of the standard library's time
            return orjson.dumps(entry).decode()
        except TypeError:  # an integer beyond 64 bits, a lone surrogate
            return json.dumps(entry, ensure_ascii=False)


class LineHandler(logging.StreamHandler[TextIO]):
    """StreamHandler, less its flush after every line when the stream holds nothing back: stderr is
    line-buffered (Python 3.9 on) or, with PYTHONUNBUFFERED, written through to the file unbuffered, so each
    line is out as it is written. The flush took the handler's lock a second time for every line, and a
    web chat message writes one (issue 23)."""

    _checked: object = None  # the stream last looked at, and whether it holds nothing back
    _direct = False

    def flush(self) -> None:
        stream = self.stream
        if stream is not self._checked:
            self._checked, self._direct = stream, holds_nothing(stream)
        if not self._direct:
            super().flush()


def holds_nothing(stream: object) -> bool:
    """Whether every line written to `stream` reaches its file at once: a line-buffered text stream, or one
    written through to an unbuffered file."""
    if getattr(stream, "line_buffering", False) is True:
        return True
    buffer = getattr(stream, "buffer", None)
    return getattr(stream, "write_through", False) is True and isinstance(buffer, io.RawIOBase)


# Libraries whose INFO lines say nothing an operator acts on: Alembic's "Context impl SQLiteImpl." and
# "Will assume non-transactional DDL." came with every command that looks at the schema.
LIBRARIES = ("alembic",)


def setup(level: int = logging.INFO, verbose: bool = False) -> None:
    """JSON lines on stderr from `level` up; the libraries' (LIBRARIES) only from WARNING unless `verbose`."""
    handler = LineHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    # What no line of ours shows (JsonFormatter writes none of it): where the call was made (a walk up the
    # stack), the thread's and the process's names. Half of a log call's cost, and a message makes one;
    # the logging HOWTO's "Optimization" section names these switches.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "uvicorn.access", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for library in LIBRARIES:  # NOTSET: the root's level (set each time: loggers outlive a call)
        logging.getLogger(library).setLevel(logging.NOTSET if verbose else logging.WARNING)


class WithoutArguments(logging.Filter):
    """Keeps a library's record but not its arguments (`record.args`): python-telegram-bot formats into
    them the updates it received, the parameters it sent, the answers it got and the data it could not
    read (citizens' words, names, chat ids), at DEBUG and at CRITICAL alike. The template ("Error while
    parsing updates! Received data was %r") still says what happened."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not isinstance(record.msg, str):
            record.msg = type(record.msg).__name__
        record.args = ()
        return True


_WITHOUT_ARGUMENTS = WithoutArguments()


def withhold_arguments(prefix: str) -> None:
    """Put WithoutArguments on `prefix`'s logger and on every logger under it that exists now: a logger's
    filters see only the records made on that logger, never its children's, so each is named (a
    library's loggers exist once it is imported; call this after importing it). Idempotent."""
    names = [n for n in list(logging.Logger.manager.loggerDict) if n == prefix or n.startswith(prefix + ".")]
    for name in {prefix, *names}:
        logger = logging.getLogger(name)
        if _WITHOUT_ARGUMENTS not in logger.filters:
            logger.addFilter(_WITHOUT_ARGUMENTS)


def event(logger: logging.Logger, name: str, **fields: Any) -> None:
    logger.info(name, extra={"fields": fields})
