"""Welcome, language, menu and the informational answers: learn, family, privacy, help, emergency."""

from __future__ import annotations

from bot.dialogue.turn import Turn
from bot.dialogue.types import Button, ForgetMe

LEARN_CARDS = ("paigham", "recruiters", "propaganda")
FAMILY_TOPICS = ("signs", "talk", "professional", "emergency")


def language_buttons(turn: Turn) -> list[Button]:
    # Each language's name is written in that language, whatever language the bot speaks now.
    return [turn.button("lang:en"), turn.button("lang:ur"), turn.button("lang:ur-Latn")]


def welcome(turn: Turn) -> None:
    turn.state.step = "language"
    turn.state.history = []
    turn.say("welcome.hello")
    turn.say("welcome.choose_language", *language_buttons(turn))


def ask_language(turn: Turn) -> None:
    turn.goto("language")
    turn.say("welcome.choose_language", *language_buttons(turn))


def menu(turn: Turn, key: str = "menu.prompt") -> None:
    turn.state.step = "menu"
    turn.state.history = []
    turn.state.draft = {}
    turn.say(key, *turn.menu_buttons())


def learn(turn: Turn) -> None:
    turn.goto("learn")
    turn.say("learn.intro", *[turn.button(f"learn:{c}") for c in LEARN_CARDS], turn.button("nav:menu"))


def learn_card(turn: Turn, card: str) -> None:
    others = [turn.button(f"learn:{c}") for c in LEARN_CARDS if c != card]
    turn.say(f"learn.{card}", *others, turn.button("menu:family"), turn.button("nav:menu"))


def family(turn: Turn) -> None:
    turn.goto("family")
    turn.say("family.intro", *[turn.button(f"family:{t}") for t in FAMILY_TOPICS], turn.button("nav:menu"))


def family_topic(turn: Turn, topic: str) -> None:
    others = [turn.button(f"family:{t}") for t in FAMILY_TOPICS if t != topic]
    turn.say(f"family.{topic}", *others, turn.button("nav:menu"))


def privacy(turn: Turn) -> None:
    turn.goto("privacy")
    turn.say("privacy.summary")
    turn.say(
        "privacy.retention",
        turn.button("forget:ask"),
        turn.button("nav:menu"),
        days=turn.context.retention_days,
    )


def ask_forget(turn: Turn) -> None:
    """Confirm before deleting: it cannot be undone."""
    turn.goto("forget")
    turn.say("privacy.forget_confirm", turn.button("forget:yes"), turn.button("forget:no"))


def forget(turn: Turn, confirmed: bool) -> None:
    if confirmed:
        turn.effects.append(ForgetMe())
        lang = turn.state.lang
        turn.state = type(turn.state)(lang=lang, step="menu")
        turn.say("privacy.forgotten", *turn.menu_buttons())
    else:
        menu(turn, "privacy.kept")


def help_(turn: Turn) -> None:
    turn.say("help.text", *turn.menu_buttons())
    turn.state.step = "menu"


def emergency(turn: Turn, offer_buttons: bool = True) -> None:
    """Emergency directions, at once. Inside a report, the report goes on afterwards."""
    if offer_buttons:
        turn.say("emergency.now", turn.button("menu:report", "buttons.report_it"), turn.button("nav:menu"))
        turn.state.step = "menu"
    else:
        turn.say("emergency.now")
        turn.say("report.marked_urgent")
