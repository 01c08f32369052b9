"""Family guidance: warning signs, how to talk, professional help, emergencies; a counsellor's callback.

Guidance never creates a report and never asks for the relative's name. The callback is consent, then a
time, then an optional phone number; the request is stored in the same turn as the number is typed, so
the number never rests in the conversation state, and it is sealed before storage. "Reply here" instead
of a number is consent to be written to in this chat: the chat's address is kept (KeepContact, sealed)
with the request until it is closed or the retention period ends; a phone request keeps no address.
"""

from __future__ import annotations

import re

from bot.dialogue.flows import words
from bot.dialogue.turn import Turn
from bot.dialogue.types import KeepContact, RequestSupport
from nlu.normalize import normalize

STEPS = ("family.consent", "family.time", "family.phone")
TOPIC = "family"  # support_requests.topic: the counsellors' queue for families
TIMES = ("morning", "afternoon", "evening", "any")
TIME_WORDS = {
    "morning": ("morning", "subah", "subha", "sobah", "صبح"),
    "afternoon": ("afternoon", "noon", "dopehar", "dopahar", "dophar", "دوپہر"),
    "evening": ("evening", "night", "shaam", "sham", "raat", "شام", "رات"),
    "any": ("any", "anytime", "any time", "kabhi bhi", "kisi bhi waqt", "koi bhi", "کبھی بھی", "کسی بھی وقت"),
}
CALLBACK_PHRASES = (
    "counsellor",
    "counsellors",
    "counselor",
    "counselling",
    "counseling",
    "call me",
    "call me back",
    "call back",
    "callback",
    "talk to someone",
    "speak to someone",
    "talk to a person",
    "kisi se baat",
    "mujhe call",
    "call karein",
    "call karo",
    "rabta karein",
    "کونسلر",
    "کونسلنگ",
    "مجھے کال",
    "کال کریں",
    "کسی سے بات",
    "رابطہ کریں",
)
# A worried relative: "my son ...", "mera beta ...". Used when the classifier names no topic.
RELATIVE_PHRASES = (
    "my son",
    "my daughter",
    "my brother",
    "my sister",
    "my husband",
    "my nephew",
    "my child",
    "my cousin",
    "mera beta",
    "meri beti",
    "mera bhai",
    "meri behan",
    "mera shohar",
    "mera bhatija",
    "mera bhanja",
    "mera bacha",
    "mera cousin",
    "میرا بیٹا",
    "میری بیٹی",
    "میرا بھائی",
    "میری بہن",
    "میرا شوہر",
    "میرا بھتیجا",
    "میرا بھانجا",
    "میرا بچہ",
)
NO_PHONE = ("no", "no number", "nahi", "nahin", "na", "nope", "skip", "نہیں", "نمبر نہیں")
_PHONE = re.compile(r"^\+?[0-9][0-9 ().-]*$")
MIN_DIGITS, MAX_DIGITS = 7, 15


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
    turn.goto("family")
    turn.say(
        key,
        *[turn.button(f"family:{t}") for t in _topic_buttons(turn)],
        turn.button("family:callback"),
        turn.button("nav:menu"),
    )


def show_topic(turn: Turn, topic: str) -> None:
    """A card, its source, then the next steps: the following topics, a counsellor, the menu."""
    turn.goto("family")
    seen = turn.state.draft.setdefault("seen", [])
    if isinstance(seen, list) and topic not in seen:
        seen.append(topic)
    turn.say(
        f"family.{topic}",
        *[turn.button(f"family:{t}") for t in _topic_buttons(turn, topic)],
        turn.button("family:callback"),
        turn.button("nav:menu"),
    )


def topic_for(turn: Turn, text: str) -> str | None:
    """The topic a typed question is about, by the cards' keywords; None if it names none."""
    return words.best(text, {t: turn.catalog.keywords.get(f"family.{t}", ()) for t in topics(turn)})


def wants_callback(text: str) -> bool:
    return words.any_of(text, CALLBACK_PHRASES)


def mentions_relative(text: str) -> bool:
    return words.any_of(text, RELATIVE_PHRASES)


def on_free_text(turn: Turn, text: str) -> None:
    """A worried relative writes: a counsellor if asked, the topic named, or the guidance from the start."""
    if wants_callback(text):
        offer_callback(turn)
        return
    topic = topic_for(turn, text)
    if topic is not None:
        show_topic(turn, topic)
    elif turn.state.step == "family":
        open_(turn)
    else:
        turn.say("family.welcome")
        show_topic(turn, topics(turn)[0])


def offer_callback(turn: Turn) -> None:
    """Explicit consent first: what is kept, that this is no report, police only for danger to life."""
    turn.goto("family.consent")
    turn.say("family.callback_offer", turn.button("support:yes"), turn.button("support:no"), *turn.nav())


def _ask_time(turn: Turn) -> None:
    turn.goto("family.time")
    turn.say("family.ask_time", *[turn.button(f"time:{t}") for t in TIMES], *turn.nav())


def _ask_phone(turn: Turn) -> None:
    """A number for a call, or "Reply here": consent to keep this chat's address until the request is
    closed (or retention ends), which the text says; the address is kept only with the request."""
    turn.goto("family.phone")
    turn.say("family.ask_phone", turn.button("support:chat"), *turn.nav(), days=turn.context.retention_days)


def prompt(turn: Turn) -> None:
    """Ask again what the current callback step asks."""
    step = turn.state.step
    if step == "family.consent":
        offer_callback(turn)
    elif step == "family.time":
        _ask_time(turn)
    else:
        _ask_phone(turn)


def _decline(turn: Turn) -> None:
    turn.state.draft.pop("time", None)
    open_(turn, "family.callback_declined")


def on_choice(turn: Turn, choice: str) -> None:
    step = turn.state.step
    kind, _, value = choice.partition(":")
    if kind == "family" and value in topics(turn):
        show_topic(turn, value)
    elif choice == "family:callback":
        offer_callback(turn)
    elif step == "family.consent" and choice == "support:yes":
        _ask_time(turn)
    elif step == "family.consent" and choice == "support:no":
        _decline(turn)
    elif step == "family.time" and kind == "time" and value in TIMES:
        turn.state.draft["time"] = value
        _ask_phone(turn)
    elif step == "family.phone" and choice == "support:chat":
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


def on_text(turn: Turn, text: str) -> bool:
    """A typed answer at a callback step: yes or no, a time, a phone number. False: not an answer."""
    step = turn.state.step
    intent = turn.parse.intent.name
    if step == "family.consent" and intent in ("affirm", "deny"):
        on_choice(turn, "support:yes" if intent == "affirm" else "support:no")
    elif step == "family.time" and (time := words.best(text, TIME_WORDS)) is not None:
        on_choice(turn, f"time:{time}")
    elif step == "family.phone" and (phone := phone_number(text)) is not None:
        _submit(turn, phone)
    elif step == "family.phone" and (intent == "deny" or words.any_of(text, NO_PHONE)):
        _submit(turn, None)
    elif step == "family.phone" and any(c.isdigit() for c in normalize(text)):
        turn.say("family.phone_invalid")
        prompt(turn)
    else:
        return False
    return True


def _note(turn: Turn) -> str:
    """What the counsellor sees besides the code: the time chosen, the topics read, how to reach them."""
    seen = turn.state.draft.get("seen")
    read = ", ".join(str(t) for t in seen) if isinstance(seen, list) and seen else "none"
    return f"time: {turn.state.draft.get('time', 'any')}; read: {read}"


def _submit(turn: Turn, phone: str | None) -> None:
    """Queue the request; its code is shown only in this turn's replies, which follow the commit."""
    code = turn.context.new_code
    reach = "phone" if phone else "chat"
    turn.effects.append(RequestSupport(code, turn.lang, TOPIC, f"{_note(turn)}; reply by: {reach}", phone))
    if phone is None:  # "Reply here": the chat's address is kept, sealed, in the request's transaction
        turn.effects.append(KeepContact())
    turn.state.step = "menu"
    turn.state.history = []
    turn.state.draft = {}
    key = "family.callback_done_phone" if phone else "family.callback_done_chat"
    turn.say(key, *turn.menu_buttons(), code=code)
