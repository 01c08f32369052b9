"""One turn in progress: the state being changed, the replies said so far, the effects to persist."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.dialogue.types import Button, Context, Effect, Reply, State
from nlu.types import Parse
from responses import Catalog

# Buttons that are always understood, whatever was offered last.
GLOBAL_CHOICES = frozenset({"lang:en", "lang:ur", "lang:ur-Latn", "nav:cancel", "nav:menu"})
MENU = ("report", "learn", "family", "status", "privacy", "help")


@dataclass
class Turn:
    state: State
    parse: Parse
    context: Context
    catalog: Catalog
    replies: list[Reply] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)

    @property
    def lang(self) -> str:
        return self.state.lang or self.parse.language

    def t(self, key: str, **params: Any) -> str:
        return self.catalog.text(key, self.lang, **params)

    def button(self, button_id: str, label_key: str | None = None) -> Button:
        key = label_key or "buttons." + button_id.replace(":", "_").replace("-", "_")
        return Button(button_id, self.t(key))

    def say(self, key: str, *buttons: Button, **params: Any) -> None:
        """Add a reply; the buttons of the last reply are the ones on offer."""
        self.replies.append(Reply(self.t(key, **params), tuple(buttons)))
        self.state.offered = [b.id for b in buttons]

    def say_text(self, text: str, *buttons: Button) -> None:
        self.replies.append(Reply(text, tuple(buttons)))
        self.state.offered = [b.id for b in buttons]

    def nav(self, back: bool = True) -> list[Button]:
        """Back and cancel, offered at every step of a flow."""
        return [*([self.button("nav:back")] if back else []), self.button("nav:cancel")]

    def menu_buttons(self) -> list[Button]:
        return [self.button(f"menu:{item}") for item in MENU]

    def goto(self, step: str) -> None:
        """Move to `step`, remembering where we were so that Back returns there."""
        if self.state.step != step and self.state.step not in ("start", "language", "menu"):
            self.state.history.append(self.state.step)
        elif self.state.step in ("start", "language", "menu"):
            self.state.history = []
        self.state.step = step
