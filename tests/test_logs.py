"""The JSON log lines (bot.logs): the timestamp worked out once a second is datetime's text to the
millisecond, and a line keeps its fields of plain types only."""

from __future__ import annotations

import io
import json
import logging
import os
import sys
from datetime import UTC, datetime
from enum import StrEnum

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import logs
from bot.logs import JsonFormatter, LineHandler, event, holds_nothing, timestamp


def iso(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")


@given(st.floats(min_value=-2e9, max_value=4e9, allow_nan=False))
def test_the_timestamp_is_datetimes_to_the_millisecond(created: float) -> None:
    assert timestamp(created) == iso(created)


def test_the_timestamp_at_the_edges_of_a_second() -> None:
    for second in (0.0, 1_796_547_476.0, 86_399.0, -1.0):
        for fraction in (0.0, 0.0004999, 0.0005, 0.9994999, 0.9995, 0.9999994, 0.9999995, 0.99999999):
            created = second + fraction
            assert timestamp(created) == iso(created), created
    assert [timestamp(t) for t in (10.5, 11.25, 10.75)] == [iso(t) for t in (10.5, 11.25, 10.75)]


class Step(StrEnum):
    MENU = "menu"


def test_a_line_keeps_the_fields_of_plain_types_and_only_those() -> None:
    record = logging.getLogger("bot.pipeline").makeRecord(
        "bot.pipeline",
        logging.WARNING,
        "",
        0,
        "message_handled",
        (),
        None,
        extra={
            "fields": {
                "channel": "webchat",
                "step": Step.MENU,
                "reports": 0,
                "ms": 1.5,
                "saved": True,
                "none": None,
                "said": ["a list", "of text"],
                "who": {"user": "42"},
                "raw": b"bytes",
            }
        },
    )
    line = JsonFormatter().format(record)
    assert json.loads(line) == {
        "ts": iso(record.created),
        "level": "warning",
        "logger": "bot.pipeline",
        "event": "message_handled",
        "channel": "webchat",
        "step": "menu",
        "reports": 0,
        "ms": 1.5,
        "saved": True,
        "none": None,
    }
    try:
        raise ValueError("the citizen's words")
    except ValueError:
        failed = logging.getLogger("x").makeRecord("x", 45, "", 0, "failed", (), sys.exc_info())
    assert json.loads(JsonFormatter().format(failed))["level"] == "level 45"
    assert json.loads(JsonFormatter().format(failed))["error"] == "ValueError"
    assert "citizen" not in JsonFormatter().format(failed)


@pytest.mark.parametrize("line_buffered", [True, False])
def test_each_line_reaches_the_file_as_it_is_logged(line_buffered: bool) -> None:
    file = io.BytesIO()
    stream = io.TextIOWrapper(file, encoding="utf-8", line_buffering=line_buffered)
    handler = LineHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.lines")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        for n in range(3):
            event(logger, "message_handled", channel="webchat", n=n)
            lines = file.getvalue().decode().splitlines()
            assert [json.loads(line)["n"] for line in lines] == list(range(n + 1))
    finally:
        logger.removeHandler(handler)
    assert holds_nothing(stream) is line_buffered
    stream.detach()
    with open(os.devnull, "wb", buffering=0) as raw, open(os.devnull, "wb") as buffered:
        unbuffered = io.TextIOWrapper(raw, write_through=True)  # PYTHONUNBUFFERED's stderr
        written_through = io.TextIOWrapper(buffered, write_through=True)
        assert holds_nothing(unbuffered) and not holds_nothing(written_through)
        unbuffered.detach()
        written_through.detach()


class Installed:
    """A LineHandler on a text stream, installed as `logs.setup` installs it: the root logger's only
    handler, from INFO. Levels are set with `setLevel` (which empties logging's cache of them) and put
    back on leaving, with the handlers that were there."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.file = io.BytesIO()
        self.stream = io.TextIOWrapper(self.file, encoding="utf-8", line_buffering=True)
        self.handler = LineHandler(self.stream)
        self.handler.setFormatter(JsonFormatter())
        monkeypatch.setattr(logs, "_installed", self.handler)

    def __enter__(self) -> Installed:
        root = logging.getLogger()
        self.before = root.handlers[:], root.level
        root.handlers[:] = [self.handler]
        root.setLevel(logging.INFO)
        return self

    def __exit__(self, *_: object) -> None:
        root = logging.getLogger()
        root.handlers[:], level = self.before
        root.setLevel(level)

    def lines(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.file.getvalue().decode().splitlines()]


FIELDS = [
    {"channel": "webchat", "step": Step.MENU, "reports": 0, "ms": 1.25, "saved": True, "none": None},
    {"language": "ur", "said": ["a list"], "who": {"user": "42"}, "raw": b"bytes", "big": 2**70},
    {
        "text": "a\ud800b",
        "lang": "ur-Latn",
        "intent": "greet",
    },  # a lone surrogate: the standard library's JSON
]


@pytest.mark.parametrize("fields", FIELDS)
def test_an_event_only_the_servers_handler_sees_is_the_line_logging_would_write(
    monkeypatch: pytest.MonkeyPatch, fields: dict[str, object]
) -> None:
    logger = logging.getLogger("bot.pipeline")
    made: list[logging.LogRecord] = []
    monkeypatch.setattr(logger, "makeRecord", lambda *a, **k: made.append(a) or None)  # type: ignore[func-returns-value]
    with Installed(monkeypatch) as installed:
        event(logger, "message_handled", **fields)
    assert made == []  # no record: the handler wrote the line itself
    record = logging.Logger("bot.pipeline").makeRecord(
        "bot.pipeline", logging.INFO, "", 0, "message_handled", (), None, extra={"fields": fields}
    )
    [fast] = installed.lines()
    expected = json.loads(JsonFormatter().format(record))
    assert fast.pop("ts") != "" and expected.pop("ts") != ""
    assert fast == expected


def test_an_event_anything_else_would_see_goes_through_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    logger = logging.getLogger("tests.events")
    captured: list[logging.LogRecord] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            captured.append(record)

    capture = Capture()
    with Installed(monkeypatch) as installed:
        logging.getLogger().addHandler(capture)  # as pytest's caplog does
        event(logger, "one", n=1)
        logging.getLogger().removeHandler(capture)
        dropped = logging.Filter("elsewhere")  # a filter on the logger applies
        logger.addFilter(dropped)
        event(logger, "two")
        logger.removeFilter(dropped)
        logger.setLevel(logging.WARNING)  # and its level
        try:
            event(logger, "three")
        finally:
            logger.setLevel(logging.NOTSET)
        monkeypatch.setattr(logger, "propagate", False)
        event(logger, "four")  # not propagated: no handler (logging's last resort takes WARNING up only)
    assert [r.getMessage() for r in captured] == ["one"] and captured[0].fields == {"n": 1}  # type: ignore[attr-defined]
    assert [line["event"] for line in installed.lines()] == ["one"]  # and the line, once


def test_a_line_that_cannot_be_written_never_fails_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    reported: list[logging.LogRecord] = []
    with Installed(monkeypatch) as installed:
        installed.stream.close()
        monkeypatch.setattr(installed.handler, "handleError", reported.append)
        event(logging.getLogger("bot.pipeline"), "message_handled", channel="webchat")
    assert [r.getMessage() for r in reported] == ["message_handled"]
