"""What a reporter is told of their report, in their language: the answer to `status CODE` and the update
notification a decision sends are one text, built here, where the dialogue and the analysts' side may both
import it (like the digest's text).

The text says when the report was received; under review since when; for a decided report, what happened
and when, why (a reason from responses/reasons.yaml, picked by the analyst), and what the citizen can do
next. Never who decided, the agency, or anything else about the case. Dates are days in Pakistan time,
written "3 Dec 2026" (Urdu month names in ur).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Protocol

from responses import Catalog
from responses.bidi import isolate

PAKISTAN = timezone(timedelta(hours=5), "PKT")  # no daylight saving since 2009
WORDS = ("received", "under_review", "action_taken", "reviewed")
DECIDED = ("action_taken", "reviewed")
# A counsellor request's code typed with `status`: the request's state, never its contents.
CALLBACK = ("callback_new", "callback_in_progress", "callback_done")


class Told(Protocol):
    """What the text needs (bot.dialogue.types.ReportStatus, storage.records.ReportTold)."""

    @property
    def word(self) -> str: ...
    @property
    def received(self) -> datetime: ...
    @property
    def reviewed(self) -> datetime | None: ...
    @property
    def decided(self) -> datetime | None: ...
    @property
    def reason(self) -> str | None: ...


def day(catalog: Catalog, lang: str, when: datetime) -> str:
    """The day of `when` in Pakistan, plainly: "3 Dec 2026" (ur: "3 دسمبر 2026", its numbers isolated like
    every Urdu text's, responses/bidi.py: the same string whether shown alone or filled into a status)."""
    months = catalog.text("status.months", lang).split()
    local = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(PAKISTAN)
    return isolate(f"{local.day} {months[local.month - 1]} {local.year}", lang)


def reason_line(catalog: Catalog, lang: str, word: str, reason: str | None) -> str:
    """Why, in a sentence: the analyst's reason, or what the decision says by itself without one."""
    if reason is not None and catalog.has(f"reasons.{reason}"):
        return catalog.text(f"reasons.{reason}", lang)
    return catalog.text(f"status.why_{word}", lang)


def status_text(catalog: Catalog, lang: str, code: str, told: Told) -> str:
    """The reporter's answer for report `code`, in `lang`."""
    received = day(catalog, lang, told.received)
    params = {"code": code, "received_on": received}
    if told.word in CALLBACK:  # a counsellor request's code: with a counsellor since, or closed, when
        handled = told.decided or told.reviewed
        params["reviewed_on"] = day(catalog, lang, handled) if handled else received
    elif told.word == "under_review":
        params["reviewed_on"] = day(catalog, lang, told.reviewed) if told.reviewed else received
    elif told.word in DECIDED:
        when = told.decided or told.reviewed or told.received
        params["decided_on"] = day(catalog, lang, when)
        params["reason"] = reason_line(catalog, lang, told.word, told.reason)
    return catalog.text(f"status.{told.word}", lang, **params)
