"""Welcome, language, menu and the short answers: privacy (with forget-me), help, emergency.

Learn and family guidance live in learn.py and family.py.
"""

from __future__ import annotations

from bot.dialogue.flows import words
from bot.dialogue.turn import Turn
from bot.dialogue.types import Button, ForgetMe

# Someone's life is in danger now; matched on normalised words, so they must be unmistakable.
EMERGENCY_PHRASES = (
    "life is in danger",
    "lives are in danger",
    "someone is in danger",
    "in danger right now",
    "going to attack",
    "about to attack",
    "attack is happening",
    "going to blow",
    "bomb blast",
    "has a bomb",
    "jaan khatre",
    "jan khatre",
    "jaan ko khatra",
    "hamla hone wala",
    "hamla karne wala",
    "hamla ho raha",
    "dhamaka hone wala",
    "dhamaka ho gaya",
    "firing ho rahi",
    "جان خطرے",
    "جان کو خطرہ",
    "حملہ ہونے والا",
    "حملہ کرنے والا",
    "حملہ ہو رہا",
    "دھماکا ہونے والا",
    "دھماکہ ہونے والا",
    "دھماکا ہو گیا",
    "دھماکہ ہو گیا",
    "فائرنگ ہو رہی",
)


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


def privacy(turn: Turn) -> None:
    turn.goto("privacy")
    turn.say("privacy.summary")
    turn.say("privacy.family")
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
    """What the bot does, with the menu, the helplines and this month's numbers."""
    turn.say("help.text", *turn.menu_buttons(), turn.button("info:helplines"), turn.button("info:numbers"))
    turn.state.step = "menu"


def is_emergency(turn: Turn, text: str, floor: float = 0.0) -> bool:
    """The classifier's emergency (at least `floor` sure), or one of a few unmistakable phrases in any of
    our languages."""
    intent = turn.parse.intent
    return (intent.name == "emergency" and intent.confidence >= floor) or words.any_of(
        text, EMERGENCY_PHRASES
    )


def emergency(turn: Turn, offer_buttons: bool = True) -> None:
    """Emergency directions, at once. Inside a report, the report goes on afterwards."""
    if offer_buttons:
        turn.say("emergency.now", turn.button("menu:report", "buttons.report_it"), turn.button("nav:menu"))
        turn.state.step = "menu"
    else:
        turn.say("emergency.now")
        turn.say("report.marked_urgent")
