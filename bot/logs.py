"""Structured logs: one JSON object a line, event names and numbers, never message text or identities."""

from __future__ import annotations

import io
import json
import logging
import math
import sys
import time
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


def json_line(
    created: float, levelname: str, logger: str, event: str, fields: object, error: str | None
) -> str:
    """A log line: when, the level, the logger, the event, the fields of plain types (never others: they
    may hold a citizen's words), and an exception's type."""
    entry: dict[str, Any] = {
        "ts": timestamp(created),
        "level": _LEVELS.get(levelname) or levelname.lower(),
        "logger": logger,
        "event": event,
    }
    if isinstance(fields, dict):
        for key, value in fields.items():
            if type(value) in _PLAIN or isinstance(value, _SAFE):
                entry[key] = value
    if error is not None:
        entry["error"] = error
    try:  # orjson: a line a message, in a third of the standard library's time
        return orjson.dumps(entry).decode()
    except TypeError:  # an integer beyond 64 bits, a lone surrogate: escaped to ASCII, which any stream
        return json.dumps(entry)  # can write (a lone surrogate cannot be encoded, and the line was lost)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        # The exception type and where, not its message: messages can carry user text.
        error = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] is not None else None
        fields = getattr(record, "fields", None)
        return json_line(record.created, record.levelname, record.name, record.getMessage(), fields, error)


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

    def write_event(self, logger: str, event: str, fields: dict[str, Any]) -> None:
        """The line an INFO record of `event` with `fields` would make here (JsonFormatter's), written as
        `emit` writes it, under the lock `handle` takes; no record is made (see `event`)."""
        line = json_line(time.time(), "INFO", logger, event, fields, None)
        try:
            with self.lock:  # type: ignore[union-attr]  # made by Handler.__init__
                self.stream.write(line + self.terminator)
                self.flush()
        except Exception:  # as `emit`: logging reports a failed write, the caller never sees it
            self.handleError(logging.makeLogRecord({"name": logger, "msg": event, "levelname": "INFO"}))


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
    global _installed
    handler = LineHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    _installed = handler
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


_installed: LineHandler | None = None  # the handler `setup` put on the root logger


def event(logger: logging.Logger, name: str, **fields: Any) -> None:
    """Log the event `name` with `fields` at INFO. When the line can only reach `setup`'s handler (no other
    handler, no filter on the way: `_alone`), the handler writes it at once without a LogRecord. The line
    cost 5% of a web chat turn's instructions (issue 23, eighth sitting; a turn logs one), and making the
    record and passing it through logging's handlers was half of that. Anything else (a test's capturing
    handler, a filter, a handler of a library's own) gets the record through logging, as before."""
    handler = _installed
    if handler is not None and logger.isEnabledFor(logging.INFO) and _alone(logger, handler):
        handler.write_event(logger.name, name, fields)
        return
    logger.info(name, extra={"fields": fields})


def _alone(logger: logging.Logger, handler: logging.Handler) -> bool:
    """Whether an INFO record of `logger` would reach `handler` and nothing else, unfiltered: logging
    applies the logger's own filters, then calls the handlers of the logger and of each parent while
    `propagate` holds (each with its level and filters); `handler` must be the root's only one."""
    if logger.filters or handler.filters or handler.level > logging.INFO:
        return False
    current: logging.Logger | None = logger
    while current is not None:
        if current.handlers:
            return current.parent is None and current.handlers == [handler]
        if not current.propagate:
            return False
        current = current.parent
    return False
