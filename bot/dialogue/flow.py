"""The contract every flow keeps: its steps, the buttons it owns, how a citizen reaches it, what it needs.

In the spirit of python-telegram-bot's `ConversationHandler` (a table of states, each with its handlers)
and Zulip's bot handler contract (a bot is an object with a few named hooks): a flow is data the engine
reads, not code the engine calls by name. The engine keeps only what is global to every conversation
(language, cancel, back, emergency, stale buttons) and looks everything else up in the registry
(`bot.dialogue.registry`). Adding a flow is one module declaring a `Flow`, its YAML and its test.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.dialogue.types import Draft, Inbound, State
from nlu.types import Parse
from responses import Catalog

if TYPE_CHECKING:
    from bot.dialogue.turn import Turn

Prompt = Callable[["Turn"], None]
OnChoice = Callable[["Turn", str], None]
# A typed message at a step: True if it was the step's answer; False sends it on to the routes.
OnText = Callable[["Turn", Inbound, str], bool]
# A route's action: None or True when it answered; False to let the next route try.
Action = Callable[["Turn", Inbound, str], "bool | None"]
Guard = Callable[["Turn", Inbound, str], bool]

CONFIDENT = 0.45  # an intent at least this sure is taken at its word
# Interrupts ranked below this run even before the engine's cancel, back and language words.
COMMANDS_RANK = 10


@dataclass(frozen=True, slots=True)
class Step:
    """One question or place of a flow.

    `asks`: the step waits for a typed answer; an aside (the digest stopped) asks it again.
    `place`: a menu to rest on; an answer shown from anywhere (helplines, numbers) stays on it.
    `root`: Back never returns here, and leaving it starts a new history.
    `content`: typed words here are the citizen's own (a description, evidence): no phrase elsewhere in the
    bot interrupts them, and an emergency in them is a finding, not a change of subject.
    `cancelled`: what Cancel says when it leaves this step.
    """

    prompt: Prompt
    on_choice: OnChoice | None = None
    on_text: OnText | None = None
    asks: bool = False
    place: bool = False
    root: bool = False
    content: bool = False
    cancelled: str = "common.cancelled"


@dataclass(frozen=True, slots=True)
class Route:
    """A way in for a typed message that no step answered: an intent, routing phrases, or a condition.

    It matches when the parse's intent is one of `intents` (at least CONFIDENT sure when `sure`), or the text
    holds a phrase of one of the `phrases` lists (responses/routing.yaml), or, with neither given, always;
    and then only if `when` (if given) holds. Routes of every flow are tried in `rank` order (then the
    registry's order of flows, then declaration order); the first that answers wins.
    """

    rank: int
    then: Action
    intents: frozenset[str] = frozenset()
    sure: bool = False
    phrases: tuple[str, ...] = ()
    when: Guard | None = None
    note: str = ""  # what this route is for, in the generated docs


@dataclass(frozen=True, slots=True)
class Command:
    """A slash command (typed anywhere, Telegram's command menu, Messenger's postbacks): global by nature.

    `run` gets what follows the command (`/status ABCD-1234` -> "ABCD-1234"). `order` places it in
    Telegram's command menu and Messenger's persistent menu. `describe`: the key of its description in
    Telegram's menu ("" for the language names, None: accepted but not listed). `postback`: the Messenger
    payload that runs it; `menu_title`: its title key in Messenger's persistent menu (None: not listed).
    """

    name: str
    run: Callable[[Turn, Inbound, str], None]
    order: int
    describe: str | None = None
    postback: str | None = None
    menu_title: str | None = None


@dataclass(frozen=True, slots=True)
class Needs:
    """What the pipeline must look up before the pure engine runs this turn, declared by the flows."""

    codes: tuple[str, ...] = ()  # reference codes whose public status the turn may tell
    links: tuple[str, ...] = ()  # canonical links: does each already have a case?
    numbers: bool = False  # this month's public figures
    quota: bool = False  # whether this citizen may submit another report now
    followup: bool = False  # a question from the analysts waiting for this citizen's next message
    # A new reference code (Context.new_code): declared at the steps that may submit a report or a callback
    # request, so that no other turn draws one. The engine refuses a submission without one.
    code: bool = False

    @property
    def empty(self) -> bool:
        """Nothing to look up (most flows, most turns): the registry leaves such needs out of the union."""
        return not (self.codes or self.links or self.numbers or self.quota or self.followup or self.code)

    def __or__(self, other: Needs) -> Needs:
        return Needs(
            codes=_joined(self.codes, other.codes),
            links=_joined(self.links, other.links),
            numbers=self.numbers or other.numbers,
            quota=self.quota or other.quota,
            followup=self.followup or other.followup,
            code=self.code or other.code,
        )


def _joined(first: tuple[str, ...], second: tuple[str, ...]) -> tuple[str, ...]:
    """Both, in order, each once (usually both are empty: no tuple is built then)."""
    return tuple(dict.fromkeys((*first, *second))) if first or second else ()


NOTHING = Needs()
NeedsOf = Callable[[State, Parse, Inbound], Needs]


def needs_nothing(state: State, parse: Parse, inbound: Inbound) -> Needs:
    """A flow that needs nothing looked up (the registry does not even call it: see Registry.needs)."""
    return NOTHING


@dataclass(frozen=True, slots=True)
class Flow:
    """One flow. `steps`: its questions and places, by name (a name is `<flow>` or `<flow>.<step>`).

    `choices`: button ids it owns, by prefix ("learn:") or whole ("info:numbers"); `on_choice` answers them
    whatever the step (when they were offered). `always`: its buttons honoured even when not offered (the
    digest's "stop" under every weekly card). `menu`: its item in the main menu (`menu:<menu>`, labelled by
    `buttons.menu_<menu>`), opened by `open`. `interrupts`: routes tried before the current step answers
    (rank below COMMANDS_RANK: even before cancel and back). `routes`: ways in for a typed message no step
    answered. `on_emergency`: a danger to life said inside this flow's content steps (see Step.content),
    with `emergency_floor` the classifier's certainty needed there. `on_threat`: a danger to life said
    anywhere else, after the emergency directions (the report flow keeps it as an urgent draft).
    `unrefused`: messages never refused as a flood (someone in crisis writing again and again).
    `draft`: the kind of draft its steps write; leaving its steps with an unfinished one puts it aside, and
    Back or "Continue" takes it up again at the step it was left at.
    `needs`: what the pipeline must look up before this turn (see Needs).
    """

    name: str
    steps: Mapping[str, Step]
    choices: tuple[str, ...] = ()
    on_choice: OnChoice | None = None
    always: tuple[str, ...] = ()
    menu: str | None = None
    menu_label: str | None = None  # the menu button's text key; by default `buttons.menu_<menu>`
    open: Callable[[Turn, Inbound | None], None] | None = None
    commands: tuple[Command, ...] = ()
    interrupts: tuple[Route, ...] = ()
    routes: tuple[Route, ...] = ()
    needs: NeedsOf = needs_nothing
    on_emergency: OnText | None = None
    emergency_floor: float = 0.0
    on_threat: OnText | None = None
    draft: type[Draft] | None = None
    unrefused: Callable[[Parse, str, Catalog], bool] | None = None
    doc: str = field(default="", compare=False)

    def owns(self, choice: str) -> bool:
        return any(choice.startswith(c) if c.endswith(":") else choice == c for c in self.choices)
