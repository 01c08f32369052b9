"""One turn in progress: the state being changed, the replies said so far, the effects to persist.

A turn carries the registry it runs under, so flows move between steps, show the menu and ask again
without naming another flow's steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from bot.dialogue import words
from bot.dialogue.flow import CONFIDENT, Step
from bot.dialogue.types import (
    MAX_PAUSED,
    MAX_UNDO,
    Button,
    Call,
    Context,
    Draft,
    Effect,
    Inbound,
    Paused,
    Reply,
    State,
)
from nlu.types import Parse
from responses import Catalog

if TYPE_CHECKING:
    from bot.dialogue.registry import Registry

D = TypeVar("D", bound=Draft)
_BUTTONS = "turn.buttons"  # Catalog.memo: (id, label key, language) -> Button
BUTTONS_KEPT = 4096


@dataclass
class Turn:
    state: State
    parse: Parse
    context: Context
    catalog: Catalog
    flows: Registry
    inbound: Inbound
    replies: list[Reply] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    before: Draft | None = None  # the draft as this turn found it (what Back restores), never changed

    @property
    def lang(self) -> str:
        return self.state.lang or self.parse.language

    @property
    def at_start(self) -> bool:
        """The conversation has not begun: no language chosen, nothing said yet."""
        return self.state.step == self.flows.start

    @property
    def step(self) -> Step:
        return self.flows.step(self.state.step)

    def t(self, key: str, **params: Any) -> str:
        return self.catalog.text(key, self.lang, **params)

    def says(self, text: str, phrases: str) -> bool:
        """Whether `text` holds one of the routing phrases `phrases` (responses/routing.yaml)."""
        return words.says(text, phrases, self.catalog)

    def sure(self, *intents: str) -> bool:
        """The message's intent is one of `intents`, at least CONFIDENT sure."""
        return self.parse.intent.name in intents and self.parse.intent.confidence >= CONFIDENT

    def yes_or_no(self, text: str) -> bool | None:
        """A short typed yes (True) or no (False) to the question on offer; None for anything else."""
        if self.parse.intent.name not in ("affirm", "deny") or len(text.split()) > 4:
            return None
        return self.parse.intent.name == "affirm"

    def button(self, button_id: str, label_key: str | None = None) -> Button:
        """The button `button_id`, labelled by `label_key` (by default `buttons.<id>`, `:` and `-` as `_`).
        A button is a value: the same one is handed out again (about six a turn, kept per catalog)."""
        lang = self.lang
        buttons: dict[tuple[str, str | None, str], Button] = words.remembered(self.catalog, _BUTTONS, dict)
        found = buttons.get((button_id, label_key, lang))
        if found is None:
            key = label_key or "buttons." + button_id.replace(":", "_").replace("-", "_")
            button = Button(button_id, self.catalog.text(key, lang))
            found = words.kept(buttons, (button_id, label_key, lang), button, BUTTONS_KEPT)
        return found

    def say(self, key: str, *buttons: Button, **params: Any) -> None:
        """Add a reply; the buttons of the last reply are the ones on offer."""
        self.replies.append(Reply(self.t(key, **params), tuple(buttons), lang=self.lang))
        self.state.offered = [b.id for b in buttons]

    def calls(self) -> tuple[Call, ...]:
        """The emergency numbers (helplines.yaml: police, rescue) as tap-to-call links."""
        numbers = self.catalog.numbers(self.lang)
        return tuple(
            Call(numbers[name], self.t("emergency.call", number=numbers[name]))
            for name in ("police", "rescue")
            if numbers.get(name, "").removeprefix("+").isdigit()
        )

    def say_calling(self, key: str, **params: Any) -> None:
        """A reply whose first line is a number to call, with tap-to-call links where the channel can; a
        reply's kind is its texts' topic (emergency, crisis)."""
        kind = key.partition(".")[0]  # its texts' topic: emergency.now -> emergency, crisis.now -> crisis
        self.replies.append(Reply(self.t(key, **params), (), self.calls(), kind, self.lang))
        self.state.offered = []

    def say_text(self, text: str, *buttons: Button) -> None:
        self.replies.append(Reply(text, tuple(buttons), lang=self.lang))
        self.state.offered = [b.id for b in buttons]

    def nav(self, back: bool = True) -> list[Button]:
        """Back and cancel, offered at every step of a flow."""
        return [*([self.button("nav:back")] if back else []), self.button("nav:cancel")]

    def menu_buttons(self) -> list[Button]:
        """The main menu; "Continue my report" first when an unfinished draft was set aside."""
        resume = [self.button("resume:continue")] if self.state.paused else []
        return [*resume, *(self.button(f"menu:{f.menu}", f.menu_label) for f in self.flows.menu_flows())]

    def goto(self, step: str) -> None:
        """Move to `step`, remembering where we were so that Back returns there. Leaving the steps of an
        unfinished draft's flow puts the draft aside (see `set_aside`)."""
        self._leaving_for(step)
        if self.step.root:
            self.state.history = []
            self.state.undo = []
        elif self.state.step != step:
            self.state.history.append(self.state.step)
            self._remember(self.state.step)
        self.state.step = step

    def _remember(self, left: str) -> None:
        """Keep the draft as it was when this turn began at `left`, for Back to restore."""
        kind = self.flows.flow_of(left).draft
        if kind is not None and isinstance(self.before, kind) and isinstance(self.state.draft, kind):
            # `before` is this turn's own snapshot, never changed: stored as it is (`Paused`)
            self.state.undo = [*self.state.undo, Paused(left, self.before)][-MAX_UNDO:]

    def undo(self, step: str) -> bool:
        """Back to `step`: the draft as it was there, before its answer (files sent stay). False when
        nothing was remembered for it."""
        if not self.state.undo or self.state.undo[-1].step != step:
            return False
        found = self.state.undo.pop()
        current = self.state.draft
        if current is not None and type(current) is type(found.draft):
            # a copy: the snapshot may be shared with the state the turn was given (`Paused`)
            self.state.draft = found.draft.undone(current).copied()
            return True
        return False

    def rest(self) -> None:
        """Back on the main menu, with no way Back. An unfinished draft is put aside, never dropped."""
        self._leaving_for(self.flows.home)
        self.state.step = self.flows.home
        self.state.history = []
        self.state.undo = []

    def _leaving_for(self, step: str) -> None:
        draft = self.state.draft
        if draft is not None and draft.unfinished and self.flows.flow_of(step).draft is not type(draft):
            self.set_aside()

    def set_aside(self) -> None:
        """Put an unfinished draft aside with the step it was last at, so that Back, "Continue my report" or
        a new tab takes it up again there; a draft with nothing in it is simply dropped."""
        draft, self.state.draft = self.state.draft, None
        if draft is None or not draft.unfinished:
            return
        trail = [*self.state.history, self.state.step]
        step = next((s for s in reversed(trail) if self.flows.flow_of(s).draft is type(draft)), None)
        if step is None:
            step = self.flows.first_step(type(draft))
        if step is not None:
            self.state.paused = [*self.state.paused, Paused(step, draft)][-MAX_PAUSED:]

    def take_up(self, step: str) -> bool:
        """Coming back to `step` (by Back, or after a change of language): if its flow's draft was set
        aside, it is the conversation's draft again. False when there was none to take up."""
        kind = self.flows.flow_of(step).draft
        if kind is None or isinstance(self.state.draft, kind):
            return False
        found = next((p for p in reversed(self.state.paused) if isinstance(p.draft, kind)), None)
        if found is None:
            return False
        self.state.paused.remove(found)
        self.state.draft = found.draft.copied()  # it may be shared with the state given (`Paused`)
        return True

    def resume(self) -> bool:
        """Take up the draft set aside last, at its step, and ask its question again."""
        if not self.state.paused:
            return False
        found = self.state.paused.pop()
        self.state.draft = found.draft.copied()  # it may be shared with the state given (`Paused`)
        self.state.step = found.step
        self.state.history = []
        self.say("resume.back")
        self.prompt()
        return True

    def prompt(self) -> None:
        """Ask again what the current step asks."""
        self.step.prompt(self)

    def draft(self, kind: type[D]) -> D:
        """The draft of this kind, begun afresh when the conversation holds another (or none); an
        unfinished draft of another kind is put aside first."""
        if not isinstance(self.state.draft, kind):
            self.set_aside()
            self.state.draft = kind()
        return self.state.draft
