"""What the repository takes and gives, in domain terms (no rows, no SQL)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, TypedDict

# Bidi embeddings and overrides (LRE, RLE, PDF, LRO, RLO: U+202A-U+202E) in what citizens wrote are
# dropped before it is stored: U+202E can make "gpj.exe" read "exe.jpg" on an analyst's screen or in an
# export. Isolates (LRI, RLI, FSI, PDI: U+2066-U+2069) and the marks (LRM, RLM) stay: they cannot reorder
# text outside themselves, and the bot's own Urdu texts use them around numbers and codes.
BIDI_OVERRIDES = dict.fromkeys(range(0x202A, 0x202F))


def without_overrides(text: str) -> str:
    """`text` without bidi embeddings and overrides (U+202A-U+202E); isolates and marks kept."""
    return text.translate(BIDI_OVERRIDES)


def _strip(record: Any, *names: str) -> None:
    """Drop bidi overrides from the text fields `names` of a frozen record, as it is made."""
    for name in names:
        value = getattr(record, name)
        if isinstance(value, str):
            object.__setattr__(record, name, without_overrides(value))


@dataclass(frozen=True, slots=True)
class EvidenceRecord:
    kind: str  # link | handle | photo | document | forward
    value: str
    raw: str | None = None
    platform: str | None = None
    fingerprint: str | None = None

    def __post_init__(self) -> None:
        _strip(self, "value", "raw")  # a forwarded post's text, a link as the citizen wrote it


@dataclass(frozen=True, slots=True)
class DesignatedMatch:
    """A designated (proscribed) organisation named in a report, as the operator's list gave it when the
    report came in (bot.shared.designated): its name, source and date (ISO), the name as the list writes
    it, where it was found (description, handle, link or forward) and, for a link, which one: a name in one
    link's slug belongs to that link's case only."""

    name: str
    source: str
    date: str
    alias: str
    place: str
    link: str | None = None


@dataclass(frozen=True, slots=True)
class NewReport:
    code: str
    reporter_id: str | None
    channel: str
    language: str
    category: str
    description: str
    urgent: bool
    evidence: tuple[EvidenceRecord, ...] = ()
    # The citizen went on past the scope notice (a report about opinion, criticism of the state or army,
    # sectarian disagreement or a blasphemy accusation, which they believe incites violence).
    scope_check: bool = False
    designated: tuple[DesignatedMatch, ...] = ()  # organisations of the designated list it names

    def __post_init__(self) -> None:
        _strip(self, "description")


@dataclass(frozen=True, slots=True)
class NewSupportRequest:
    """A family's callback request: its own queue, seen by counsellors only; never a report."""

    code: str
    conversation_id: str
    channel: str
    language: str
    topic: str
    note: str
    phone: bytes | None = field(default=None, repr=False)  # sealed

    def __post_init__(self) -> None:
        _strip(self, "note")


@dataclass(frozen=True, slots=True)
class FollowupReply:
    """What a reporter's message did to the follow-up question waiting for it (storage.followups): it
    answered (its words, links and files become evidence on the report), skipped it, or passed it by (a
    question has one message: after it the citizen is never held by it)."""

    pending: int  # the waiting question (followup_pending.id)
    outcome: str  # answered | skipped | passed
    evidence: tuple[EvidenceRecord, ...] = ()  # an answer's: its words (kind `answer`), links and files
    urgent: bool = False  # the answer speaks of a danger to life: its audit event says so


@dataclass(frozen=True, slots=True)
class TurnRecord:
    """Everything one handled message changes, committed together or not at all."""

    channel: str
    event_id: str
    conversation_id: str
    expected_version: int  # 0 for a conversation not stored yet
    state: dict[str, Any]
    response: list[dict[str, Any]]
    reports: tuple[NewReport, ...] = ()
    contact: bytes | None = None  # the sealed channel address, when the citizen agreed to get updates
    # Codes of this conversation's reports whose updates the citizen asked for: consent is per report.
    updates_for: tuple[str, ...] = ()
    forget: bool = False  # delete contact, state, pending notifications and the link to past reports
    support: tuple[NewSupportRequest, ...] = ()
    subscribe: str | None = None  # a language: send this conversation the weekly digest in it
    unsubscribe: bool = False  # stop the weekly digest (and drop any digest not yet delivered)
    followup: FollowupReply | None = None  # the message came while a follow-up question waited for it
    # (claim, language) of each recruiters' claim answered: counted by day (storage.claim_asks), never who
    claims_asked: tuple[tuple[str, str], ...] = ()
    # This turn's messages for the conversation's transcript, as JSON lines (bot.shared.transcript): stored
    # as given, a row a turn (storage.transcripts); None (or empty) for a channel that keeps none
    transcript: str | None = None
    # `response` as `json_text` writes it, when the caller has encoded it already (storage.engine's
    # `json_list`: the pipeline encodes a turn's replies once, for this and the transcript's lines); the
    # fixed SQL of a plain turn stores it as it is
    response_text: str | None = None


@dataclass(frozen=True, slots=True)
class ReportTold:
    """What a report's reporter is told of it, and nothing more: no analyst, no agency, no case internals.

    `word` is the reporter-facing status (storage.lifecycle.PUBLIC) of the most telling of the report's
    cases, and the dates and reason are that case's: `reviewed` when it came under review (for a report
    under review or decided), `decided` when it was decided and `reason` why (storage.lifecycle.REASONS),
    for a decided one."""

    code: str
    language: str
    word: str  # received | under_review | action_taken | reviewed
    received: datetime
    reviewed: datetime | None = None
    decided: datetime | None = None
    reason: str | None = None


class CommitStatus(Enum):
    OK = "ok"
    DUPLICATE = "duplicate"  # this event was handled before
    CONFLICT = "conflict"  # the conversation changed meanwhile (another instance handled a message)
    CODE_TAKEN = "code_taken"  # the random reference code exists already


@dataclass(frozen=True, slots=True)
class CommitResult:
    status: CommitStatus
    response: list[dict[str, Any]] = field(default_factory=list)  # the stored replies of a duplicate
    case_ids: tuple[int, ...] = ()
    joined: tuple[bool, ...] = ()  # per report: it joined a case that existed already


class Conversation:
    """A conversation's state (None before its first turn) and its version. Never changed once made.

    The state may come as its JSON with the function that reads it (`Conversation.encoded`, the state
    cache's entries), read when first asked for: a turn that has the state its previous turn left beside
    the cached entry (`storage.states.StateCache.take`) never reads the JSON (issue 23's profile: reading
    it every turn was 2.5% of the event loop's time)."""

    __slots__ = ("_encoded", "_read", "_state", "_version")

    def __init__(self, state: dict[str, Any] | None, version: int) -> None:
        self._state = state
        self._encoded: bytes | None = None
        self._read: Callable[[bytes], Any] | None = None
        self._version = version

    @classmethod
    def encoded(cls, state: bytes, read: Callable[[bytes], Any], version: int) -> Conversation:
        """A conversation whose state is the JSON `state`, read by `read` when first asked for."""
        found = cls(None, version)
        found._encoded, found._read = state, read
        return found

    @property
    def state(self) -> dict[str, Any] | None:
        if self._read is not None and self._encoded is not None:
            self._state = self._read(self._encoded)
            self._encoded = self._read = None
        return self._state

    @property
    def version(self) -> int:
        return self._version

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Conversation):
            return NotImplemented
        return (self.state, self._version) == (other.state, other._version)

    __hash__ = None  # type: ignore[assignment]  # its state is a dict

    def __repr__(self) -> str:
        return f"Conversation(state={self.state!r}, version={self._version!r})"


class PayloadButton(TypedDict):
    id: str
    label: str


class OutboxPayload(TypedDict):
    """What every outbox row carries, whoever queued it (a status notification, a counsellor's reply,
    the digest, an urgent-case alert): a message's text and its buttons (none for most)."""

    text: str
    buttons: list[PayloadButton]


def message(text: str, buttons: list[PayloadButton] | None = None) -> OutboxPayload:
    return {"text": text, "buttons": list(buttons or [])}


def as_payload(stored: Any) -> OutboxPayload:
    """A stored payload as the one type (rows written before it existed may lack buttons)."""
    buttons = stored.get("buttons") if isinstance(stored, dict) else None
    return {"text": str(stored.get("text", "")) if isinstance(stored, dict) else "", "buttons": buttons or []}


@dataclass(frozen=True, slots=True)
class Notification:
    id: int
    kind: str
    payload: OutboxPayload


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A notification claimed for delivery, with what is needed to reach its recipient."""

    id: int
    conversation_id: str
    channel: str
    kind: str
    payload: OutboxPayload
    attempts: int
    created_at: datetime
    address: bytes | None  # sealed; None when there is no contact (no consent, or forgotten)
    unreachable: bool
    last_inbound_at: datetime | None  # when the citizen last wrote (Messenger's 24-hour window)
