"""Structured logs: one JSON object a line, event names and numbers, never message text or identities."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

_SAFE = (str, int, float, bool, type(None))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update({k: v for k, v in fields.items() if isinstance(v, _SAFE)})
        if record.exc_info and record.exc_info[0] is not None:
            # The exception type and where, not its message: messages can carry user text.
            entry["error"] = record.exc_info[0].__name__
        try:  # orjson: a line a message, in a third of the standard library's time
            return orjson.dumps(entry).decode()
        except TypeError:  # an integer beyond 64 bits, a lone surrogate
            return json.dumps(entry, ensure_ascii=False)


# Libraries whose INFO lines say nothing an operator acts on: Alembic's "Context impl SQLiteImpl." and
# "Will assume non-transactional DDL." came with every command that looks at the schema.
LIBRARIES = ("alembic",)


def setup(level: int = logging.INFO, verbose: bool = False) -> None:
    """JSON lines on stderr from `level` up; the libraries' (LIBRARIES) only from WARNING unless `verbose`."""
    handler = logging.StreamHandler(sys.stderr)
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
