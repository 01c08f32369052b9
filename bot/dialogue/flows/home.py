"""Home: the welcome, the choice of language, the main menu, and what the engine's global interrupts say
(cancel, emergency directions). Small talk outside a flow comes back here.
"""

from __future__ import annotations

from bot.dialogue import words
from bot.dialogue.flow import CONFIDENT, Command, Flow, Route, Step
from bot.dialogue.turn import Turn
from bot.dialogue.types import START, Button, Inbound
from responses import Catalog
from responses.languages import LANGUAGES

LANGUAGE = "language"
HOME = "menu"
DISCARD = "discard"  # "Delete this report?": Cancel on a draft with a link, a file or an urgent mark
RESUME = "resume"  # "You have an unfinished report: continue, or start again?"
# "urdu please", "Roman Urdu mein baat karo": a longer message is not a choice of language
LANGUAGE_MAX_WORDS = 6


def language_buttons(turn: Turn) -> list[Button]:
    # Each language's name is written in that language, whatever language the bot speaks now.
    return [turn.button(f"lang:{lang}") for lang in LANGUAGES]


def language_named(turn: Turn, text: str) -> str | None:
    """The language a short message names ("urdu", "roman urdu", "انگریزی"), by routing.yaml's lists."""
    if len(text.split()) > LANGUAGE_MAX_WORDS:
        return None
    return words.choices(turn.catalog, "home.languages", _language_words).best(text)


def _language_words(catalog: Catalog) -> dict[str, tuple[str, ...]]:
    return {lang: catalog.phrases(f"language_{lang}") for lang in LANGUAGES}


def welcome(turn: Turn) -> None:
    turn.state.step = LANGUAGE
    turn.state.history = []
    turn.say("welcome.hello")
    turn.say("welcome.choose_language", *language_buttons(turn))


def ask_language(turn: Turn) -> None:
    turn.goto(LANGUAGE)
    turn.say("welcome.choose_language", *language_buttons(turn))


def set_language(turn: Turn, lang: str) -> None:
    """Speak `lang` from now on: the menu the first time; else back to the step the citizen left for the
    language question (a report's draft with it), asked again."""
    turn.state.lang = lang
    if turn.state.step == LANGUAGE and turn.state.history:
        step = turn.state.history.pop()
        turn.take_up(step)
        turn.state.step = step
    elif turn.state.step in (START, LANGUAGE):
        menu(turn, "menu.first")
        return
    turn.say("common.language_set")
    turn.prompt()


def menu(turn: Turn, key: str = "menu.prompt") -> None:
    turn.rest()
    turn.state.draft = None
    turn.say(key, *turn.menu_buttons())


def cancel(turn: Turn) -> None:
    """Leave the flow in progress; what was cancelled is said in its own words. A draft with a link, a file
    or an urgent mark is deleted only after a yes ("Delete this report?")."""
    draft = turn.state.draft
    owner = turn.flows.flow_of(turn.state.step).draft
    if draft is not None and draft.precious and isinstance(draft, owner or ()):
        turn.goto(DISCARD)
        _ask_discard(turn)
        return
    drop(turn, turn.step.cancelled)


def drop(turn: Turn, key: str) -> None:
    """Delete the draft being written (the citizen said so) and show the menu."""
    turn.state.draft = None
    menu(turn, key)


def _ask_discard(turn: Turn) -> None:
    turn.say("common.discard_ask", turn.button("discard:yes"), turn.button("discard:no"))


def _discard_answer(turn: Turn, yes: bool) -> None:
    if turn.state.step != DISCARD:
        _ask_discard(turn)
    elif yes:
        step = turn.state.history[-1] if turn.state.history else turn.flows.home
        turn.take_up(step)  # set aside while the question was asked: this is the one to delete
        drop(turn, turn.flows.step(step).cancelled)
    else:
        back(turn)


def _on_discard_text(turn: Turn, inbound: Inbound, text: str) -> bool:
    answer = turn.yes_or_no(text)
    if answer is None:
        return False
    _discard_answer(turn, answer)
    return True


def back(turn: Turn) -> None:
    """The step before, with the draft it was writing (taken up again if it was set aside)."""
    if turn.state.history:
        step = turn.state.history.pop()
        if not turn.take_up(step):
            turn.undo(step)
        turn.state.step = step
        turn.prompt()
    else:
        menu(turn)


def offer_resume(turn: Turn) -> None:
    """An unfinished draft was set aside: continue it, or start again (a new tab, /start, Report)."""
    turn.rest()
    if not turn.state.paused:
        menu(turn)
        return
    turn.state.step = RESUME
    turn.say("resume.ask", turn.button("resume:continue"), turn.button("resume:new"), turn.button("nav:menu"))


def _on_resume(turn: Turn, choice: str) -> None:
    if choice == "resume:continue":
        if not turn.resume():
            menu(turn)
        return
    paused = turn.state.paused.pop() if turn.state.paused else None  # "start again": the old one goes
    flow = turn.flows.draft_flow(type(paused.draft)) if paused is not None else None
    if flow is not None and flow.open is not None:
        turn.say("resume.deleted")
        flow.open(turn, None)
    else:
        menu(turn)


def _on_resume_text(turn: Turn, inbound: Inbound, text: str) -> bool:
    answer = turn.yes_or_no(text)
    if answer is None:
        return False
    _on_resume(turn, "resume:continue" if answer else "resume:new")
    return True


def is_emergency(turn: Turn, text: str, floor: float = 0.0) -> bool:
    """The classifier's emergency (at least `floor` sure), or an unmistakable phrase in any language."""
    intent = turn.parse.intent
    return (intent.name == "emergency" and intent.confidence >= floor) or turn.says(text, "emergency")


def emergency(turn: Turn, offer_buttons: bool = True) -> None:
    """Emergency directions, at once. Inside a report (no buttons), the report goes on afterwards."""
    if offer_buttons:
        turn.say_calling("emergency.now")
        turn.say("emergency.next", turn.button("menu:report", "buttons.report_it"), turn.button("nav:menu"))
        turn.rest()
    else:
        turn.say_calling("emergency.now")


def _on_language_text(turn: Turn, inbound: Inbound, text: str) -> bool:
    named = language_named(turn, text)
    if named is None:
        return False
    set_language(turn, named)
    return True


def _start(turn: Turn, inbound: Inbound, rest: str) -> None:
    """/start (a new tab of the web chat sends it, as Telegram's Start does): a draft in progress is put
    aside and offered back, never dropped."""
    if turn.at_start or turn.state.lang is None:
        welcome(turn)
        return
    turn.set_aside()
    if turn.state.paused:
        offer_resume(turn)
    else:
        menu(turn, "menu.greet")


def _small_talk(turn: Turn, inbound: Inbound, text: str) -> None:
    key = {"greet": "menu.greet", "thanks": "menu.thanks", "goodbye": "menu.goodbye"}
    menu(turn, key[turn.parse.intent.name])


def _not_understood(turn: Turn, inbound: Inbound, text: str) -> None:
    intent = turn.parse.intent
    unsure = intent.confidence < CONFIDENT or intent.name in ("affirm", "deny", "out_of_scope")
    menu(turn, "menu.not_understood" if unsure else "menu.prompt")


FLOW = Flow(
    name="home",
    doc="The welcome, the language, the main menu; small talk and what nothing else understood.",
    steps={
        START: Step(prompt=ask_language, root=True),
        LANGUAGE: Step(prompt=ask_language, on_text=_on_language_text, root=True),
        HOME: Step(prompt=menu, place=True, root=True),
        DISCARD: Step(prompt=_ask_discard, on_text=_on_discard_text),
        RESUME: Step(prompt=lambda turn: offer_resume(turn), on_text=_on_resume_text, root=True),
    },
    choices=("resume:", "discard:"),
    on_choice=lambda turn, choice: (
        _on_resume(turn, choice)
        if choice.startswith("resume:")
        else _discard_answer(turn, choice == "discard:yes")
    ),
    commands=(
        Command("start", _start, 0, describe="buttons.nav_menu", postback="GET_STARTED"),
        Command(
            "language", lambda t, i, r: ask_language(t), 40, "", "MENU_LANGUAGE", "messenger.menu_language"
        ),
        Command("cancel", lambda t, i, r: cancel(t), 60, describe="buttons.nav_cancel"),
        Command("menu", lambda t, i, r: menu(t), 70, postback="MENU_MAIN", menu_title="messenger.menu_main"),
    ),
    routes=(
        Route(
            90,
            lambda t, i, x: welcome(t),
            when=lambda t, i, x: t.at_start and t.state.lang is None,
            note="a first message that says nothing in a language: welcome",
        ),
        Route(92, _small_talk, intents=frozenset({"greet", "thanks", "goodbye"}), note="small talk"),
        Route(100, _not_understood, note="anything else: the menu"),
    ),
)
