"""From an inbound event to stored state and replies: the path every channel shares.

inbound -> idempotency -> nlu.parse -> dialogue.handle -> ONE transaction (event id, state, reports,
cases, audit) -> replies. Messages of one conversation are handled in order; different conversations
run concurrently. A reply that names a reference code exists only after its transaction committed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from bot import logs, metrics
from bot.dialogue import (
    REGISTRY,
    AnswerFollowup,
    ClaimAsked,
    Context,
    Effect,
    ForgetMe,
    Inbound,
    KeepContact,
    MonthNumbers,
    Needs,
    Registry,
    Reply,
    RequestSupport,
    SkipFollowup,
    State,
    SubmitReport,
    Subscribe,
    Unsubscribe,
    handle_owned,
)
from bot.dialogue.types import FollowupAsked, ReportStatus
from bot.limits import FloodGuard, Limits, Verdict
from bot.shared import transcript
from bot.shared.designated import Designated, shipped
from bot.shared.identity import Pseudonyms
from bot.shared.sealing import AddressBox
from nlu import Parse, aparse, parse
from nlu.refcode import new_code
from responses import LANGUAGES, Catalog, catalog
from storage.blocklist import BlockList
from storage.engine import json_list, json_text
from storage.followups import waiting_for
from storage.records import (
    CommitStatus,
    DesignatedMatch,
    EvidenceRecord,
    FollowupReply,
    NewReport,
    NewSupportRequest,
    TurnRecord,
)
from storage.repository import Storage, StorageUnavailable
from storage.safety import Safety
from storage.support import month_numbers

log = logging.getLogger(__name__)
ATTEMPTS = 6
MAX_INPUT = 100_000  # characters kept from one message; the engine answers longer ones as too long
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Handled:
    replies: list[Reply]
    saved: bool = True  # False: storage was unavailable and nothing was kept
    duplicate: bool = False
    # Refused as a flood (or blocked): not handled. A channel that answers with a status says 429 with
    # Retry-After (seconds); Telegram and Messenger still acknowledge with 200, or the platform redelivers.
    refused: bool = False
    retry_after: int | None = None


def clean_text(text: str | None) -> str | None:
    """Drop control characters (NUL breaks PostgreSQL text) and lone surrogates; keep newlines and tabs."""
    if text is None:
        return None
    return _CONTROL.sub("", text[: MAX_INPUT + 1])


def designations(effect: SubmitReport, designated: Designated) -> tuple[DesignatedMatch, ...]:
    """The designated organisations a report names (bot.shared.designated), as storage keeps them."""
    found = designated.in_report(
        effect.description,
        links=(link.canonical for link in effect.links),
        handles=effect.handles,
        forwards=(a.ref for a in effect.evidence if a.kind == "forward"),
    )
    return tuple(
        DesignatedMatch(
            m.organisation.name,
            m.organisation.source,
            m.organisation.designated_on.isoformat(),
            m.alias,
            m.place,
            m.link,
        )
        for m in found
    )


def to_records(
    effect: SubmitReport, reporter_id: str, channel: str, designated: Designated | None = None
) -> NewReport:
    items = [EvidenceRecord("link", link.canonical, link.raw, link.platform) for link in effect.links]
    items += [EvidenceRecord("handle", handle) for handle in effect.handles]
    items += [EvidenceRecord(a.kind, a.ref, fingerprint=a.fingerprint) for a in effect.evidence]
    return NewReport(
        code=effect.code,
        reporter_id=reporter_id,
        channel=channel,
        language=effect.language,
        category=effect.category,
        description=effect.description,
        urgent=effect.urgent,
        evidence=tuple(items),
        scope_check=effect.scope_check,
        designated=designations(effect, shipped() if designated is None else designated),
    )


class Pipeline:
    def __init__(
        self,
        storage: Storage,
        pseudonyms: Pseudonyms,
        box: AddressBox,
        parser: Callable[[str], Parse] = parse,
        texts: Catalog | None = None,
        retention_days: int = 180,
        limits: Limits | None = None,
        flows: Registry = REGISTRY,
        recent: frozenset[str] = frozenset({"webchat"}),
        designated: Designated | None = None,
        public_url: str = "",
    ) -> None:
        self.storage = storage
        self.public_url = public_url.rstrip("/")  # RAABTA_PUBLIC_URL: where share links open the web chat
        # The designated organisations reports are matched against (the operator's list, or the shipped one)
        self.designated = shipped() if designated is None else designated  # an empty list is a list
        # Channels whose conversations keep a transcript of their last messages (the web chat restores a
        # reloaded page from it; bot.shared.transcript): the bot's replies and the buttons pressed (among
        # those offered), never typed text: it may hold a phone number or a name.
        self.recent = recent
        self.flows = flows
        self.pseudonyms = pseudonyms
        self.box = box
        self.retention_days = retention_days
        self.floods = FloodGuard(limits or Limits())
        self.safety = Safety(storage)
        self.blocked = BlockList(storage)
        self.parse = parser
        self.texts = texts or catalog()
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiting: dict[str, int] = {}

    async def handle(self, inbound: Inbound) -> Handled:
        """Handle one event in order with the others of its conversation."""
        conversation = self.pseudonyms.of(inbound.channel, inbound.user)
        metrics.of(metrics.MESSAGES_IN, inbound.channel).inc()
        started = time.perf_counter()
        refused = await self._refuse(conversation, inbound)
        if refused is not None:
            reason = "refused" if refused.refused else "storage_unavailable"
            metrics.of(metrics.REFUSED, inbound.channel, reason).inc()
            return refused
        lock = self._locks.setdefault(conversation, asyncio.Lock())
        self._waiting[conversation] = self._waiting.get(conversation, 0) + 1
        try:
            async with lock:
                handled = await self._handle(conversation, inbound)
            metrics.of(metrics.HANDLING, inbound.channel).observe(time.perf_counter() - started)
            metrics.of(metrics.MESSAGES_OUT, inbound.channel).inc(len(handled.replies))
            if not handled.saved:
                metrics.of(metrics.REFUSED, inbound.channel, "storage_unavailable").inc()
                self.floods.forgive(conversation)  # "please send it again" must not count as a flood
            return handled
        finally:
            self._waiting[conversation] -= 1
            if not self._waiting[conversation]:
                del self._waiting[conversation]
                del self._locks[conversation]

    async def _handle(self, conversation: str, inbound: Inbound) -> Handled:
        started = time.perf_counter()
        cleaned = clean_text(inbound.text)
        if cleaned != inbound.text:  # `replace` costs 10 microseconds: only when cleaning changed it
            inbound = replace(inbound, text=cleaned)
        text = inbound.text or ""
        understood = await aparse(text) if self.parse is parse else self.parse(text)
        try:
            for _ in range(ATTEMPTS):
                stored = await self.storage.load_conversation(conversation, cached=True)
                # The state this process's last turn of the conversation left, if it is the stored one
                # (storage.states: handed out once, so this turn may change it), else read from the row.
                kept = self.storage.states.take(conversation, stored.version)
                state = kept if isinstance(kept, State) else State.from_dict(stored.state)
                # The button pressed, for the transcript: read before the engine changes what is offered
                pressed = (
                    inbound.choice if inbound.choice is not None and inbound.choice in state.offered else None
                )
                needs = self.flows.needs(state, understood, inbound)
                context = await self._context(conversation, needs)
                # the state is read afresh each attempt and not used again: the engine may change it
                outcome = handle_owned(
                    inbound,
                    understood,
                    state,
                    context,
                    self.texts,
                    self.flows,
                )
                replies = list(outcome.replies)
                response = [r.to_dict() for r in replies]
                encoded = [json_text(r) for r in response]  # once: the event's row, the transcript's lines
                written = outcome.state.to_dict()
                record = TurnRecord(
                    channel=inbound.channel,
                    event_id=inbound.event_id,
                    conversation_id=conversation,
                    expected_version=stored.version,
                    state=written,
                    response=response,
                    response_text=json_list(encoded),
                    followup=_followup_reply(context, outcome.effects),
                    transcript=transcript.turn(pressed, encoded, _wrote(inbound))
                    if inbound.channel in self.recent
                    else None,
                    # Nine turns in ten have no effect: nothing to look for among them
                    **(self._effected(outcome.effects, conversation, inbound) if outcome.effects else {}),
                )
                forget = record.forget
                result = await self.storage.commit_turn(record)
                if result.status is CommitStatus.OK:
                    if not forget and outcome.state.settled(written):  # as the next turn would read it
                        self.storage.states.keep(conversation, stored.version + 1, outcome.state)
                    if result.case_ids:
                        metrics.REPORTS.labels(inbound.channel).inc(len(result.case_ids))
                    logs.event(
                        log,
                        "message_handled",
                        channel=inbound.channel,
                        step=outcome.state.step,
                        intent=understood.intent.name,
                        language=understood.language,
                        reports=sum(isinstance(e, SubmitReport) for e in outcome.effects),
                        ms=round((time.perf_counter() - started) * 1000, 2),
                    )
                    return Handled(replies)
                if result.status is CommitStatus.DUPLICATE:
                    logs.event(log, "duplicate_event", channel=inbound.channel)
                    return Handled([Reply.from_dict(r) for r in result.response], duplicate=True)
                logs.event(log, "commit_retry", channel=inbound.channel, reason=result.status.value)
            raise StorageUnavailable("too many conflicting attempts")
        except StorageUnavailable as exc:
            log.warning(
                "storage_unavailable", extra={"fields": {"channel": inbound.channel, "reason": str(exc)}}
            )
            return self._unavailable(understood.language)

    def _effected(self, effects: tuple[Effect, ...], conversation: str, inbound: Inbound) -> dict[str, Any]:
        """What a turn's effects add to its TurnRecord: reports, contact and consent, forget-me, callback
        requests, the digest, the claims answered."""
        channel = inbound.channel
        return dict(  # keywords, not strings: "forget" is also a step's name (tests/test_flows.py)
            reports=tuple(
                to_records(e, conversation, channel, self.designated)
                for e in effects
                if isinstance(e, SubmitReport)
            ),
            contact=self.box.seal(inbound.user) if any(isinstance(e, KeepContact) for e in effects) else None,
            updates_for=tuple(code for e in effects if isinstance(e, KeepContact) for code in e.reports),
            forget=any(isinstance(e, ForgetMe) for e in effects),
            support=self._support_records(effects, conversation, channel),
            subscribe=_subscribed(effects),
            unsubscribe=any(isinstance(e, Unsubscribe) for e in effects),
            claims_asked=tuple((e.claim, e.language) for e in effects if isinstance(e, ClaimAsked)),
        )

    def _unavailable(self, lang: str) -> Handled:
        """The answer "please send it again": storage could not be reached, nothing of it was kept."""
        sorry = Reply(self.texts.text("common.unavailable", lang), kind="notice", lang=lang)
        return Handled([sorry], saved=False)

    async def _refuse(self, conversation: str, inbound: Inbound) -> Handled | None:
        """A polite answer instead of handling, for blocked citizens and floods; None to go on. When the
        block list cannot be read, "please send it again" (not saved, not refused: the web chat's 503)."""
        text = inbound.text or ""
        parsed: list[Parse] = []

        def understood() -> Parse:
            """Parsed only when refusing, once (not `functools.cache`: making one every message cost
            more than the refusal check it serves)."""
            if not parsed:
                parsed.append(self.parse(text))
            return parsed[0]

        async def answer(key: str, retry_after: int | None = None) -> Handled:
            lang = await self.language(conversation, inbound, understood)
            calling = key.startswith("crisis.")  # the number to call, never a refusal
            kind = key.partition(".")[0] if calling else "notice"
            reply = Reply(self.texts.text(key, lang), kind=kind, lang=lang)
            return Handled([reply], saved=False, refused=not calling, retry_after=retry_after)

        def crisis() -> bool:
            """Someone in crisis writing again and again is never refused as a flood; and a citizen blocked
            for abuse who speaks of harming themselves still gets the number to call (nothing is kept)."""
            return bool(text) and self.flows.unrefused(understood(), text, self.texts)

        try:
            if await self.blocked.contains(conversation):
                logs.event(log, "blocked_message", channel=inbound.channel)
                return await answer("crisis.now" if crisis() else "common.blocked")
            verdict = self.floods.check(conversation)
            if verdict is Verdict.OK:
                return None
            if crisis():
                self.floods.forgive(conversation)
                return None
            if verdict is Verdict.BLOCK:
                await self.safety.block(conversation, "repeated message floods")
                logs.event(log, "reporter_blocked", channel=inbound.channel)
                return await answer("common.blocked")
        except StorageUnavailable:  # the block list could not be read: "send it again", not a refusal
            return self._unavailable(await self.language(conversation, inbound, understood))
        logs.event(log, "flood_slowed", channel=inbound.channel)
        return await answer("common.slow_down_user", self.floods.retry_after(conversation))

    def calling_answer(self, text: str) -> Handled | None:
        """For a message that is refused before anything is stored (too many new chats from one address):
        the number to call when it speaks of harming oneself, as a flood never refuses that; else None."""
        if not text:
            return None
        understood = self.parse(text)
        if not self.flows.unrefused(understood, text, self.texts):
            return None
        lang = understood.language if understood.language in LANGUAGES else "en"
        key = "crisis.now"
        reply = Reply(self.texts.text(key, lang), kind=key.partition(".")[0], lang=lang)
        return Handled([reply], saved=True)  # answered in full: there is nothing to send again

    async def replied(self, channel: str, event_id: str) -> tuple[bool, float]:
        """Whether some instance recorded sending this event's replies, and the event's age in seconds.
        With the database unreachable: not recorded, and old (sending twice beats never)."""
        try:
            return await self.storage.replied(channel, event_id)
        except StorageUnavailable:
            return False, float("inf")

    async def mark_replied(self, channel: str, event_id: str) -> None:
        """Record that this event's replies went out, for a redelivery reaching another instance."""
        try:
            await self.storage.mark_replied(channel, event_id)
        except StorageUnavailable:
            logs.event(log, "replied_not_recorded", channel=channel)

    async def reachable(self, channel: str, user: str, reachable: bool) -> bool:
        """The platform says the citizen blocked (False) or unblocked (True) the bot: their contact is marked
        so (notifications wait for it to be reachable). False when storage is unavailable now."""
        reporter = self.pseudonyms.of(channel, user)
        try:
            if reachable:
                await self.storage.outbox.mark_reachable(reporter, channel)
            else:
                await self.storage.outbox.mark_unreachable(reporter, channel)
        except StorageUnavailable:
            logs.event(log, "reachability_not_saved", channel=channel, reachable=reachable)
            return False
        logs.event(log, "reachability_changed", channel=channel, reachable=reachable)
        return True

    async def language(
        self, conversation: str, inbound: Inbound, understood: Callable[[], Parse] | None = None
    ) -> str:
        """The language to answer in without handling the message (a refusal): the conversation's, else
        the language button pressed, else the message's own, else English."""
        try:
            lang = State.from_dict((await self.storage.load_conversation(conversation)).state).lang
        except StorageUnavailable:
            lang = None
        if lang in LANGUAGES:
            return lang
        if inbound.choice and inbound.choice.startswith("lang:") and inbound.choice[5:] in LANGUAGES:
            return inbound.choice[5:]
        if inbound.text:
            said = (understood or functools.partial(self.parse, inbound.text))().language
            return said if said in LANGUAGES else "en"
        return "en"

    async def _context(self, conversation: str, needs: Needs) -> Context:
        """What the flows declared this turn needs, looked up; nothing else is read."""
        return Context(
            new_code() if needs.code else "",  # drawn only on a turn that may submit
            await self._statuses(needs.codes),
            await self._known_links(needs.links),
            self.retention_days,
            await self._may_report(conversation) if needs.quota else True,
            numbers=MonthNumbers(*await month_numbers(self.storage)) if needs.numbers else None,
            followup=await self._followup(conversation) if needs.followup else None,
            public_url=self.public_url,
        )

    async def _followup(self, conversation: str) -> FollowupAsked | None:
        """The analysts' question delivered to this citizen and waiting for their next message, if any:
        the analyst asked outside the conversation, so its state cannot know (storage.followups)."""
        found = await waiting_for(self.storage, conversation)
        return FollowupAsked(found.pending, found.code) if found is not None else None

    async def _may_report(self, conversation: str) -> bool:
        """Is this citizen within the reports-per-hour and per-day limits?"""
        limits = self.floods.limits
        return (
            await self.safety.reports_since(conversation, 1) < limits.reports_per_hour
            and await self.safety.reports_since(conversation, 24) < limits.reports_per_day
        )

    def _support_records(
        self, effects: tuple[Effect, ...], conversation: str, channel: str
    ) -> tuple[NewSupportRequest, ...]:
        """Families' callback requests, with the phone number sealed (it is never logged or kept plain)."""
        return tuple(
            NewSupportRequest(
                code=e.code,
                conversation_id=conversation,
                channel=channel,
                language=e.language,
                topic=e.topic,
                note=e.note,
                phone=self.box.seal(e.phone) if e.phone else None,
            )
            for e in effects
            if isinstance(e, RequestSupport)
        )

    async def _known_links(self, links: tuple[str, ...]) -> frozenset[str]:
        """Which of these canonical links already have a case ("others reported it too")."""
        return frozenset([link for link in links if await self.storage.reports.case_exists(link)])

    async def _statuses(self, codes: tuple[str, ...]) -> dict[str, ReportStatus | None]:
        """What each code's reporter is told of it (storage.reports.told: the status in their words, its
        dates and the decision's reason), None for an unknown code."""
        if not codes:
            return {}
        found = await self.storage.reports.told(list(codes))
        missing = [code for code in codes if code not in found]  # a counsellor request's code, perhaps
        if missing:
            found.update(await self.storage.reports.requests_told(missing))
        return {
            code: ReportStatus(t.word, t.received, t.reviewed, t.decided, t.reason)
            if (t := found.get(code))
            else None
            for code in codes
        }


def _wrote(inbound: Inbound) -> bool:
    """The citizen wrote or sent something (not a button; not a slash command, which the web chat page
    sends by itself when it opens): their transcript says so, without what."""
    return inbound.choice is None and not (inbound.text or "").startswith("/")


def _followup_reply(context: Context, effects: tuple[Effect, ...]) -> FollowupReply | None:
    """What this message did to the analysts' question waiting for it: answered it (its words, links and
    files as evidence), skipped it, or, whatever else it was (a command, the crisis answer, the menu),
    passed it by: a question has one message. None when no question waited."""
    asked = context.followup
    if asked is None:
        return None
    for e in effects:
        if isinstance(e, AnswerFollowup) and e.pending == asked.pending:
            items = [EvidenceRecord("answer", e.text)] if e.text else []
            items += [EvidenceRecord("link", x.canonical, x.raw, x.platform) for x in e.links]
            items += [EvidenceRecord(a.kind, a.ref, fingerprint=a.fingerprint) for a in e.evidence]
            return FollowupReply(asked.pending, "answered", tuple(items), urgent=e.urgent)
        if isinstance(e, SkipFollowup) and e.pending == asked.pending:
            return FollowupReply(asked.pending, "skipped")
    return FollowupReply(asked.pending, "passed")


def _subscribed(effects: tuple[Effect, ...]) -> str | None:
    """The language of the digest this turn subscribed to, if it did."""
    return next((e.language for e in effects if isinstance(e, Subscribe)), None)
