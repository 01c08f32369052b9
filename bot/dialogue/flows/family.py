"""Family guidance: warning signs, how to talk, professional help, emergencies; a counsellor's callback.

Guidance never creates a report and never asks for the relative's name. The callback is consent, then a
time, then an optional phone number; the request is stored in the same turn as the number is typed, so
the number never rests in the conversation state, and it is sealed before storage. "Reply here" instead
of a number is consent to be written to in this chat: the chat's address is kept (KeepContact, sealed)
with the request until it is closed or the retention period ends; a phone request keeps no address.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.dialogue import words
from bot.dialogue.flow import NOTHING, Flow, Needs, Route, Step
from bot.dialogue.turn import Turn
from bot.dialogue.types import Draft, Inbound, KeepContact, RequestSupport, State, strings
from nlu.normalize import normalize
from nlu.types import Parse
from responses import Catalog

FAMILY = "family"
CONSENT = "family.consent"
TIME = "family.time"
PHONE = "family.phone"
STEPS = (CONSENT, TIME, PHONE)
TOPIC = "family"  # support_requests.topic: the counsellors' queue for families
# Who a callback is for (support_requests.topic, shown to counsellors): a family, or the person themselves
# in crisis (crisis.py) or being drawn in (at_risk.py). Each has its own consent text, decline and "done".
TOPICS = ("family", "self_harm", "at_risk")
CONSENT_TEXT = {"family": "family.callback_offer", "at_risk": "at_risk.callback_offer"}
TIMES = ("morning", "afternoon", "evening", "any")
_PHONE = re.compile(r"^\+?[0-9][0-9 ().-]*$")
MIN_DIGITS, MAX_DIGITS = 7, 15
MAX_SEEN = 20


@dataclass
class FamilyDraft(Draft):
    """The family guidance read so far, and the time chosen for a callback (never a name or a number)."""

    kind = "family"
    V1_KEYS = frozenset({"seen", "time"})

    seen: list[str] = field(default_factory=list)
    time: str | None = None
    topic: str = "family"  # who the callback is for (TOPICS)

    def __post_init__(self) -> None:
        if self.time is not None and self.time not in TIMES:
            raise ValueError(f"unknown time {self.time!r}")
        if self.topic not in TOPICS:
            raise ValueError(f"unknown callback topic {self.topic!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "seen": list(self.seen), "time": self.time, "topic": self.topic}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FamilyDraft:
        time, topic = data.get("time"), data.get("topic")
        return cls(
            seen=strings(data.get("seen"), MAX_SEEN, 64),
            time=time if time in TIMES else None,
            topic=topic if topic in TOPICS else "family",
        )


def topics(turn: Turn) -> tuple[str, ...]:
    """The family cards, in the order of responses/family.yaml."""
    return turn.catalog.cards("family")


def handles(choice: str) -> bool:
    """Whether a button id belongs to the family flow."""
    return choice.startswith(("family:", "support:", "time:"))


def _topic_buttons(turn: Turn, after: str | None = None) -> list[str]:
    every = topics(turn)
    if after is None:
        return list(every)
    at = every.index(after)
    return [*every[at + 1 :], *every[:at]]


def open_(turn: Turn, key: str = "family.intro") -> None:
    """The family menu: what this section is (no report, no names), and its topics."""
    turn.goto(FAMILY)
    turn.say(
        key,
        *[turn.button(f"family:{t}") for t in _topic_buttons(turn)],
        turn.button("family:callback"),
        turn.button("nav:menu"),
    )


def show_topic(turn: Turn, topic: str) -> None:
    """A card, its source, then the next steps: the following topics, a counsellor, the menu."""
    turn.goto(FAMILY)
    seen = turn.draft(FamilyDraft).seen
    if topic not in seen and len(seen) < MAX_SEEN:
        seen.append(topic)
    turn.say(
        f"family.{topic}",
        *[turn.button(f"family:{t}") for t in _topic_buttons(turn, topic)],
        turn.button("family:callback"),
        turn.button("nav:menu"),
    )


def topic_for(turn: Turn, text: str) -> str | None:
    """The topic a typed question is about, by the cards' keywords; None if it names none."""
    return words.choices(turn.catalog, "family.topics", _topic_keywords).best(text)


def _topic_keywords(catalog: Catalog) -> dict[str, tuple[str, ...]]:
    return {t: catalog.keywords.get(f"family.{t}", ()) for t in catalog.cards("family")}


def wants_callback(turn: Turn, text: str) -> bool:
    return turn.says(text, "callback")


def on_free_text(turn: Turn, text: str) -> None:
    """A worried relative writes: a counsellor if asked, the topic named, or the guidance from the start."""
    if wants_callback(turn, text):
        offer_callback(turn)
        return
    topic = topic_for(turn, text)
    if topic is not None:
        show_topic(turn, topic)
    elif turn.state.step == FAMILY:
        open_(turn)
    else:
        turn.say("family.welcome")
        show_topic(turn, topics(turn)[0])


def offer_callback(turn: Turn, topic: str | None = None) -> None:
    """Explicit consent first: what is kept, that this is no report, police only for danger to life."""
    draft = turn.draft(FamilyDraft)
    draft.topic = topic or draft.topic
    turn.goto(CONSENT)
    key = CONSENT_TEXT.get(draft.topic, "family.callback_offer")
    turn.say(key, turn.button("support:yes"), turn.button("support:no"), *turn.nav())


def start_callback(turn: Turn, topic: str) -> None:
    """A callback whose consent was already given with the offer (the crisis answer says what is kept)."""
    turn.draft(FamilyDraft).topic = topic
    _ask_time(turn)


def _ask_time(turn: Turn) -> None:
    turn.goto(TIME)
    turn.say("family.ask_time", *[turn.button(f"time:{t}") for t in TIMES], *turn.nav())


def _ask_phone(turn: Turn) -> None:
    """A number for a call, or "Reply here": consent to keep this chat's address until the request is
    closed (or retention ends), which the text says; the address is kept only with the request."""
    turn.goto(PHONE)
    turn.say("family.ask_phone", turn.button("support:chat"), *turn.nav(), days=turn.context.retention_days)


def prompt(turn: Turn) -> None:
    """Ask again what the current callback step asks."""
    step = turn.state.step
    if step == CONSENT:
        offer_callback(turn)
    elif step == TIME:
        _ask_time(turn)
    else:
        _ask_phone(turn)


def _decline(turn: Turn) -> None:
    draft = turn.draft(FamilyDraft)
    draft.time = None
    if draft.topic == "family":
        open_(turn, "family.callback_declined")
    elif draft.topic == "at_risk":
        turn.say("at_risk.declined", *turn.menu_buttons())
        turn.rest()
    else:
        turn.say("crisis.stay")
        turn.rest()


def on_choice(turn: Turn, choice: str) -> None:
    step = turn.state.step
    kind, _, value = choice.partition(":")
    if kind == "family" and value in topics(turn):
        show_topic(turn, value)
    elif choice == "family:callback":
        offer_callback(turn)
    elif step == CONSENT and choice == "support:yes":
        _ask_time(turn)
    elif step == CONSENT and choice == "support:no":
        _decline(turn)
    elif step == TIME and kind == "time" and value in TIMES:
        turn.draft(FamilyDraft).time = value
        _ask_phone(turn)
    elif step == PHONE and choice == "support:chat":
        _submit(turn, None)
    else:
        turn.say("common.stale_button")
        if step in STEPS:
            prompt(turn)
        else:
            open_(turn)


def phone_number(text: str) -> str | None:
    """A phone number, loosely: 7 to 15 digits, an optional leading +, spaces, dashes, dots, brackets."""
    typed = normalize(text).strip()
    if not _PHONE.match(typed):
        return None
    digits = re.sub(r"\D", "", typed)
    if not MIN_DIGITS <= len(digits) <= MAX_DIGITS:
        return None
    return ("+" if typed.startswith("+") else "") + digits


def on_text(turn: Turn, inbound: Inbound, text: str) -> bool:
    """A typed answer at a callback step: yes or no, a time, a phone number. False: not an answer."""
    step = turn.state.step
    intent = turn.parse.intent.name
    if step == CONSENT and intent in ("affirm", "deny"):
        on_choice(turn, "support:yes" if intent == "affirm" else "support:no")
    elif step == CONSENT and (time := _time_words(turn).best(text)) is not None:
        turn.draft(FamilyDraft).time = time  # "shaam ko": a time is a yes
        _ask_phone(turn)
    elif step == TIME and (time := _time_words(turn).best(text)) is not None:
        on_choice(turn, f"time:{time}")
    elif step == PHONE and (phone := phone_number(text)) is not None:
        _submit(turn, phone)
    elif step == PHONE and (intent == "deny" or turn.says(text, "no_phone")):
        _submit(turn, None)
    elif step == PHONE and any(c.isdigit() for c in normalize(text)):
        turn.say("family.phone_invalid")
        prompt(turn)
    else:
        return False
    return True


def _note(turn: Turn) -> str:
    """What the counsellor sees besides the code: the time chosen, the topics read, how to reach them."""
    draft = turn.draft(FamilyDraft)
    read = ", ".join(draft.seen) if draft.seen else "none"
    return f"time: {draft.time or 'any'}; read: {read}"


def _submit(turn: Turn, phone: str | None) -> None:
    """Queue the request; its code is shown only in this turn's replies, which follow the commit."""
    code = turn.context.new_code
    reach = "phone" if phone else "chat"
    topic = turn.draft(FamilyDraft).topic
    turn.effects.append(RequestSupport(code, turn.lang, topic, f"{_note(turn)}; reply by: {reach}", phone))
    if phone is None:  # "Reply here": the chat's address is kept, sealed, in the request's transaction
        turn.effects.append(KeepContact())
    turn.rest()
    turn.state.draft = None
    if topic == "self_harm":  # someone in crisis: the number again, and no menu
        turn.say("crisis.callback_done", code=code)
        return
    key = "family.callback_done_phone" if phone else "family.callback_done_chat"
    turn.say(key, *turn.menu_buttons(), code=code)


def needs(state: State, parse: Parse, inbound: Inbound) -> Needs:
    """At the phone question: a new reference code, for the callback request queued there.

    The phone question is the one step that queues a request (for a family, a person in crisis or one
    being drawn in): no other turn draws a code."""
    return A_CODE if state.step == PHONE else NOTHING


A_CODE = Needs(code=True)


def _time_words(turn: Turn) -> words.Choices:
    return words.choices(turn.catalog, "family.times", _times)


def _times(catalog: Catalog) -> dict[str, tuple[str, ...]]:
    return {time: catalog.phrases(f"time_{time}") for time in TIMES}


def _free_text(turn: Turn, inbound: Inbound, text: str) -> None:
    on_free_text(turn, text)


def _names_a_topic(turn: Turn, inbound: Inbound, text: str) -> bool:
    return topic_for(turn, text) is not None


FAMILY_HELP = frozenset({"family_help"})
FLOW = Flow(
    name="family",
    doc="Guidance for families (warning signs, how to talk, where to get help) and a counsellor's callback.",
    steps={
        FAMILY: Step(prompt=lambda turn: open_(turn), place=True),
        **{name: Step(prompt=prompt, on_text=on_text, asks=True) for name in STEPS},
    },
    choices=("family:", "support:", "time:"),
    on_choice=on_choice,
    menu="family",
    open=lambda turn, inbound: open_(turn),
    routes=(
        Route(70, lambda t, i, x: offer_callback(t), phrases=("callback",), note="asks for a counsellor"),
        Route(
            58,  # on the family menu its topics come first ("tell the police?" is no privacy question)
            _free_text,
            when=lambda t, i, x: t.state.step == FAMILY and _names_a_topic(t, i, x),
            note="a topic named on the family menu",
        ),
        Route(73, _free_text, intents=FAMILY_HELP, sure=True, note="a worried relative"),
        Route(75, _free_text, intents=FAMILY_HELP, note="a worried relative, less sure"),
        Route(75, _free_text, when=_names_a_topic, note="a family card's keywords"),
        Route(
            75,
            _free_text,
            phrases=("relative",),
            when=lambda t, i, x: not t.sure("out_of_scope"),
            note="names a relative (my son, mera bhai), unless plainly about something else (pubg, school)",
        ),
    ),
    needs=needs,
)
