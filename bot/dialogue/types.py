"""The engine's vocabulary: what comes in, what goes out, and the conversation state between."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Self

CATEGORIES = (
    "violent_threat",
    "recruitment",
    "propaganda",
    "financing",
    "instructions",
    "hate_speech",
    "illicit_trade",
    "other",
)
MAX_TEXT = 4_000  # longest message the engine reads as an answer
MAX_DESCRIPTION = 1_000
MAX_LINKS = 10
MAX_EVIDENCE = 10
# Kinds of message we cannot use (`Inbound.unsupported`), as the channels name them for the engine.
UNSUPPORTED_KINDS = (
    "sticker",
    "gif",
    "audio",  # voice notes and audio files
    "video",  # videos and round video notes
    "location",
    "contact",
    "poll",
    "file",  # a file type we do not take (only images and PDF are)
    "file_too_large",
    "other",
)


@dataclass(frozen=True, slots=True)
class Button:
    id: str
    label: str


@dataclass(frozen=True, slots=True)
class Call:
    """A number to call from the reply at one tap, where the channel can (the web chat's `tel:` link)."""

    number: str
    label: str


# What a reply is (`Reply.kind`), for a channel that shows kinds apart (the web chat styles emergency and
# crisis answers to stand out): prompt, info, emergency, crisis (named after the texts' topic, emergency.*
# or crisis.*), notification, notice (a refusal). Empty: the channel derives it (`Reply.kind_or_derived`).


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    buttons: tuple[Button, ...] = ()
    calls: tuple[Call, ...] = ()  # never choices: a channel that cannot dial leaves them out
    kind: str = ""  # prompt, info, emergency, crisis, notification, notice; "" to derive it
    lang: str = ""  # the language it is written in (en, ur, ur-Latn), "" when not known

    @property
    def kind_or_derived(self) -> str:
        """The kind marked, else: emergency when it has numbers to call, prompt with buttons, else info."""
        if self.kind:
            return self.kind
        return "emergency" if self.calls else "prompt" if self.buttons else "info"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "text": self.text,
            "buttons": [{"id": b.id, "label": b.label} for b in self.buttons],
        }
        if self.calls:
            data["calls"] = [
                {"number": c.number, "label": c.label, "href": f"tel:{c.number}"} for c in self.calls
            ]
        if self.kind:
            data["kind"] = self.kind
        if self.lang:
            data["lang"] = self.lang
        return data

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> Reply:
        """A reply stored with `to_dict` (a duplicate's answer), tolerant of older rows."""
        buttons = data.get("buttons") or []
        calls = data.get("calls") or []
        return Reply(
            str(data.get("text", "")),
            tuple(Button(str(b["id"]), str(b["label"])) for b in buttons if isinstance(b, Mapping)),
            tuple(Call(str(c["number"]), str(c["label"])) for c in calls if isinstance(c, Mapping)),
            str(data.get("kind") or ""),
            str(data.get("lang") or ""),
        )


@dataclass(frozen=True, slots=True)
class Attachment:
    """Evidence that is not a link: a photo or file id with its fingerprint, or a forwarded text."""

    kind: str  # photo | document | forward
    ref: str  # the channel's file id, or the forwarded text
    fingerprint: str | None = None


@dataclass(frozen=True, slots=True)
class Inbound:
    channel: str
    user: str  # the channel's user id; the engine never stores it
    event_id: str
    text: str | None = None
    choice: str | None = None
    attachments: tuple[Attachment, ...] = ()
    links: tuple[str, ...] = ()  # links the channel found (a forwarded channel post, a shared URL)
    # What the message held that we cannot use (one of UNSUPPORTED_KINDS): a sticker, a voice note, ...
    unsupported: str | None = None


@dataclass(frozen=True, slots=True)
class Link:
    raw: str
    canonical: str
    platform: str


@dataclass(frozen=True, slots=True)
class SubmitReport:
    """Effect: store a report (and join or open its case)."""

    code: str
    category: str
    description: str
    urgent: bool
    language: str
    links: tuple[Link, ...]
    evidence: tuple[Attachment, ...]
    handles: tuple[str, ...] = ()
    # The citizen went on past the scope notice (a report about opinion or a blasphemy accusation, which
    # they believe incites violence): analysts see a "scope check" mark.
    scope_check: bool = False


@dataclass(frozen=True, slots=True)
class KeepContact:
    """Effect: the citizen agreed to be written to here (report updates, the digest, a counsellor's reply);
    keep their channel address, sealed. `reports`: the codes whose updates they asked for (consent is per
    report: a "no" for one report keeps it silent whatever is said later)."""

    reports: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ForgetMe:
    """Effect: delete contact, conversation state, subscriptions and the link to past reports."""


@dataclass(frozen=True, slots=True)
class RequestSupport:
    """Effect: a family asked for a counsellor's callback; its own queue, never a report."""

    code: str
    language: str
    topic: str
    note: str  # what the family chose (time, topics read); never free text, never a relative's name
    phone: str | None = field(default=None, repr=False)  # as typed; sealed before storage, never logged


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Effect: send the weekly digest to this conversation, in `language`."""

    language: str


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """Effect: stop the weekly digest for this conversation."""


@dataclass(frozen=True, slots=True)
class AnswerFollowup:
    """Effect: this message answers the analysts' question waiting for it (`Context.followup`): its words,
    links and files go to the report the question named, as evidence."""

    pending: int  # FollowupAsked.pending
    text: str
    links: tuple[Link, ...] = ()
    evidence: tuple[Attachment, ...] = ()
    urgent: bool = False  # it speaks of a danger to life (the citizen got the emergency directions too)


@dataclass(frozen=True, slots=True)
class SkipFollowup:
    """Effect: the citizen tapped Skip under the analysts' question: no answer, and no more waiting."""

    pending: int  # FollowupAsked.pending


@dataclass(frozen=True, slots=True)
class ClaimAsked:
    """Effect: the answer to a recruiters' claim (an id of responses/claims.yaml) was asked for, in
    `language`: counted by day for the console's overview, never who asked."""

    claim: str
    language: str


Effect = (
    SubmitReport
    | KeepContact
    | ForgetMe
    | RequestSupport
    | Subscribe
    | Unsubscribe
    | AnswerFollowup
    | SkipFollowup
    | ClaimAsked
)


@dataclass(frozen=True, slots=True)
class MonthNumbers:
    """This month's public figures: reports received, pages referred, pages still monitored."""

    received: int
    referred: int
    monitored: int


class Draft:
    """What a flow keeps between turns (a report being written, the family topics read), as a dataclass.

    Each kind registers itself by its `kind` name when its class is defined (in its flow's module), so a
    stored state finds its class again. `to_dict` gives JSON; `from_dict` reads it back, tolerant of what
    older versions stored: unknown keys are dropped and lists cut to their limits, never an error, so a
    conversation in progress survives an upgrade. `V1_KEYS`: the keys that marked this kind in the untyped
    drafts of state version 1.
    """

    kind: ClassVar[str] = ""
    V1_KEYS: ClassVar[frozenset[str]] = frozenset()
    KINDS: ClassVar[dict[str, type[Draft]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            Draft.KINDS[cls.kind] = cls

    @property
    def unfinished(self) -> bool:
        """It holds something the citizen wrote or sent (a link, words, a file): leaving its flow puts it
        aside (`State.paused`), never drops it."""
        return False

    @property
    def precious(self) -> bool:
        """Losing it would cost more than typing a line again (a link, a file, an urgent mark): Cancel asks
        before it deletes."""
        return False

    def undone(self, now: Draft) -> Draft:
        """This earlier draft, brought back by Back from `now`: by default exactly as it was."""
        return self

    def copied(self) -> Self:
        """A copy a turn may change in place. A draft's fields hold immutable values (strings, numbers,
        frozen dataclasses) or lists of them (tests/test_engine_copies.py checks every kind), so new lists
        of the same items are a full copy: several times cheaper than `copy.deepcopy`, which was the
        largest cost of the engine's turn (issue 23's profile)."""
        twin = object.__new__(type(self))
        twin.__dict__.update({k: v[:] if type(v) is list else v for k, v in self.__dict__.items()})
        return twin

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Draft:
        raise NotImplementedError

    def settled(self, written: Mapping[str, Any]) -> bool:
        """Whether `from_dict` of what `to_dict` wrote (`written`) gives this draft back exactly: what a
        state kept for the next turn (`State.settled`) must be, or that turn would see a draft another
        instance, reading the row, would not."""
        return type(self).from_dict(written) == self

    @staticmethod
    def load(data: object) -> Draft | None:
        """The draft a stored state holds: by its `kind`, or (version 1) by the keys it has."""
        if not isinstance(data, Mapping) or not data:
            return None
        kind = data.get("kind")
        if isinstance(kind, str):
            found = Draft.KINDS.get(kind)
            return found.from_dict(data) if found else None
        for cls in Draft.KINDS.values():
            if cls.V1_KEYS & set(data):
                return cls.from_dict(data)
        return None


def strings(value: object, limit: int, size: int = MAX_TEXT) -> list[str]:
    """A stored list of strings, cut to `limit` items of at most `size` characters."""
    if not isinstance(value, list):
        return []
    return [str(v)[:size] for v in value if isinstance(v, str | int)][:limit]


# Where every conversation begins: the one step named outside its flow's module, because a new State needs
# it before any flow is loaded (the home flow declares it).
START = "start"
STATE_VERSION = 2  # 1: the draft was an untyped dict (before the registry of flows)
MAX_PAUSED = 3  # unfinished drafts set aside at once; a fourth pushes out the oldest
MAX_UNDO = 8  # steps Back can undo exactly; further back, it only returns to the question
MAX_HISTORY = 50  # steps kept for Back (a stored state's; read from it up to this many)
MAX_OFFERED = 20  # buttons on offer kept
MAX_STEP = 64  # characters of a step's name or a button's id kept


class Paused:
    """An unfinished draft set aside when the citizen went elsewhere, and the step to take it up again.

    Also Back's snapshot of a draft (`State.undo`). Either is never changed in place once made: a turn
    that takes its draft up again changes a copy (`Turn.take_up`, `resume`, `undo`), so copies of a state
    share them (`State.copied`).

    Read from a stored state, it keeps the draft's stored dict and parses it only when a turn takes it up
    (`draft`): a report holds up to MAX_UNDO snapshots and most turns use none of them, yet parsing each
    and serialising it again every turn cost more than the rest of the state (issue 23's profile:
    ReportDraft.from_dict 13 times a message). It is written back as that same dict (`to_dict`). One made
    by a turn is serialised once, and from then on is what it wrote: written as that dict on the turns
    after (the pipeline keeps a turn's state for the next: storage.states), and read back from it when
    taken up, as a state read from the row would have it. The dict is never changed in place either: it
    is part of the states handed to storage.
    """

    __slots__ = ("_data", "_draft", "_step")

    def __init__(self, step: str, draft: Draft) -> None:
        self._step = step
        self._draft: Draft | None = draft
        self._data: dict[str, Any] | None = None

    @classmethod
    def stored(cls, step: str, data: dict[str, Any]) -> Paused:
        """A draft as stored (a dict with the `kind` of a known draft), parsed when first used."""
        paused = object.__new__(cls)
        paused._step, paused._draft, paused._data = step, None, data
        return paused

    @property
    def step(self) -> str:
        return self._step

    @property
    def draft(self) -> Draft:
        draft = self._draft
        if draft is None:
            assert self._data is not None  # one of the two is always there
            draft = self._draft = Draft.KINDS[self._data["kind"]].from_dict(self._data)
        return draft

    def to_dict(self) -> dict[str, Any]:
        data = self._data
        if data is None:
            # from now on exactly what the row holds: its draft is read back from it when used
            data = self._data = self.draft.to_dict()
            self._draft = None
        return {"step": self._step, "draft": data}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Paused):
            return NotImplemented
        return self._step == other._step and (
            self._data is other._data is not None or self.draft == other.draft
        )

    __hash__ = None  # type: ignore[assignment]  # equal by value, as the draft it holds

    def __repr__(self) -> str:
        return f"Paused(step={self._step!r}, draft={self.draft!r})"

    @staticmethod
    def load(data: object) -> Paused | None:
        if not isinstance(data, Mapping) or not isinstance(data.get("step"), str):
            return None
        step, stored = data["step"][:MAX_STEP], data.get("draft")
        if isinstance(stored, dict) and type(kind := stored.get("kind")) is str and kind in Draft.KINDS:
            return Paused.stored(step, stored)  # today's form: parsed when used
        draft = Draft.load(stored)  # an older form (version 1's untyped draft) or junk: read now
        return Paused(step, draft) if draft is not None else None


@dataclass
class State:
    """A conversation's state; JSON through `to_dict` / `from_dict`, which also reads older versions."""

    lang: str | None = None
    step: str = START
    history: list[str] = field(default_factory=list)
    offered: list[str] = field(default_factory=list)
    draft: Draft | None = None
    paused: list[Paused] = field(default_factory=list)  # unfinished drafts set aside, newest last
    # The draft as it was at each of the last steps in `history` (newest last): Back takes the step's
    # answer away again (the link it added, the description it took), never the files sent.
    undo: list[Paused] = field(default_factory=list)
    # (The web chat's last messages are kept beside the state, not in it: bot.shared.transcript.)

    def copied(self) -> State:
        """A copy a turn may change (`handle`'s, which leaves its caller's state alone): new lists, and a
        copy of the draft being written; the drafts set aside and Back's snapshots are shared, since no
        turn changes them in place (`Paused`). `copy.deepcopy` stays a full copy, for whoever wants one (a
        test freezing a state to compare it after a turn)."""
        return State(
            self.lang,
            self.step,
            self.history[:],
            self.offered[:],
            self.draft.copied() if self.draft is not None else None,
            self.paused[:],
            self.undo[:],
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "version": STATE_VERSION,
            "lang": self.lang,
            "step": self.step,
            "history": list(self.history),
            "offered": list(self.offered),
            "draft": self.draft.to_dict() if self.draft is not None else None,
        }
        if self.paused:
            data["paused"] = [p.to_dict() for p in self.paused]
        if self.undo:
            data["undo"] = [p.to_dict() for p in self.undo]
        return data

    def settled(self, written: Mapping[str, Any]) -> bool:
        """Whether `from_dict` of what `to_dict` wrote (`written`) gives this state back exactly, so that
        the state a turn left can stand for its row on the next turn (bot.pipeline, storage.states):
        within the limits `from_dict` cuts to, and its draft settled too. The drafts set aside and
        Back's snapshots are what was written once written (`Paused.to_dict`): only their steps count."""
        step, history, offered, paused, undo = self.step, self.history, self.offered, self.paused, self.undo
        return (
            type(step) is str
            and step != ""
            and (self.lang is None or type(self.lang) is str)
            and len(history) <= MAX_HISTORY
            and all(type(s) is str and len(s) <= MAX_STEP for s in history)
            and len(offered) <= MAX_OFFERED
            and all(type(s) is str and len(s) <= MAX_STEP for s in offered)
            and len(paused) <= MAX_PAUSED
            and len(undo) <= MAX_UNDO
            and all(len(p.step) <= MAX_STEP for p in paused)
            and all(len(p.step) <= MAX_STEP for p in undo)
            and (self.draft is None or self.draft.settled(written["draft"]))
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> State:
        if not data:
            return cls()
        lang = data.get("lang")
        step = data.get("step")
        return cls(
            lang=lang if isinstance(lang, str) else None,
            step=step if isinstance(step, str) and step else START,
            history=strings(data.get("history"), MAX_HISTORY, MAX_STEP),
            offered=strings(data.get("offered"), MAX_OFFERED, MAX_STEP),
            draft=Draft.load(data.get("draft")),
            paused=_paused(data.get("paused")),
            undo=_paused(data.get("undo"), MAX_UNDO),
        )


def _paused(value: object, limit: int = MAX_PAUSED) -> list[Paused]:
    if not isinstance(value, list):
        return []
    found = (Paused.load(item) for item in value[-limit:])
    return [p for p in found if p is not None]


@dataclass(frozen=True, slots=True)
class ReportStatus:
    """What a reporter may be told of a report: its status in their words (received, under_review,
    action_taken, reviewed), when it was received, when it came under review and when it was decided, and
    the reason picked with the decision (responses/reasons.yaml); never who decided or anything else of
    the case. Times are aware datetimes; the text says their day in Pakistan."""

    word: str
    received: datetime
    reviewed: datetime | None = None
    decided: datetime | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class FollowupAsked:
    """A question the analysts reviewing a report sent this citizen, delivered and waiting for their next
    message (looked up by the pipeline: the analyst asked outside the conversation). Never who asked."""

    pending: int  # which waiting question (the storage's id), handed back in the effect
    code: str  # the report it is about


@dataclass(frozen=True, slots=True)
class Context:
    """What the caller looked up for this turn, so the engine stays pure."""

    # The reference code to use if this turn submits a report or a callback request: drawn only for a turn
    # whose flows declared `Needs.code`, "" otherwise (the engine refuses a submission without one).
    new_code: str
    # code -> what its reporter is told of it, None if no report has that code
    reports: Mapping[str, ReportStatus | None] = field(default_factory=dict)
    known_links: frozenset[str] = frozenset()  # canonical links that already have a case
    retention_days: int = 180
    may_report: bool = True  # False when this citizen reached the reports-per-hour or per-day limit
    numbers: MonthNumbers | None = None  # this month's figures, looked up only when the turn may show them
    followup: FollowupAsked | None = None  # a question waiting for this message (the followup flow)
    # Where the web chat is served (RAABTA_PUBLIC_URL, no trailing /): a Learn card or a claim's answer
    # carries a link that opens it there; "" for none
    public_url: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    replies: tuple[Reply, ...]
    state: State
    effects: tuple[Effect, ...] = ()
