"""The registry of flows: where the engine, the channels, the fuzz test and the docs look flows up.

Built once from the flows' declarations (bot/dialogue/flows/__init__.py) and checked when built: each
step, menu item, command and owned button has exactly one flow. A registry is a value: `with_flow` gives
a new one with one more flow, which is how a test adds a toy flow without touching the engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property

from bot.dialogue.flow import (
    COMMANDS_RANK,
    NOTHING,
    Command,
    Flow,
    Needs,
    NeedsOf,
    Route,
    Step,
    needs_nothing,
)
from bot.dialogue.types import Draft, Inbound, State
from nlu.types import Parse
from responses import Catalog

OWNERS_KEPT = 1024  # button ids whose owner a registry remembers


class RegistryError(ValueError):
    """Two flows claim the same thing, or the start or home step is missing."""


@dataclass(frozen=True)
class Registry:
    flows: tuple[Flow, ...]
    start: str  # the step of a conversation that has not begun (no language chosen yet)
    home: str  # the step the bot rests on between flows: the main menu
    _steps: dict[str, tuple[Flow, Step]] = field(init=False, repr=False, compare=False)
    _owners: dict[str, Flow | None] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        steps: dict[str, tuple[Flow, Step]] = {}
        names = [flow.name for flow in self.flows]
        if len(set(names)) != len(names):
            raise RegistryError(f"two flows share a name: {names}")
        for flow in self.flows:
            for name, step in flow.steps.items():
                if name in steps:
                    raise RegistryError(f"step {name!r} is declared by {steps[name][0].name} and {flow.name}")
                steps[name] = (flow, step)
        for name in (self.start, self.home):
            if name not in steps:
                raise RegistryError(f"no flow declares the step {name!r}")
        menu = [flow.menu for flow in self.flows if flow.menu]
        if len(set(menu)) != len(menu):
            raise RegistryError(f"two flows share a menu item: {menu}")
        if any(flow.menu and flow.open is None for flow in self.flows):
            raise RegistryError("a flow with a menu item needs `open`")
        commands = [c.name for flow in self.flows for c in flow.commands]
        if len(set(commands)) != len(commands):
            raise RegistryError(f"two flows share a command: {commands}")
        owned = [c for flow in self.flows for c in flow.choices]
        if len(set(owned)) != len(owned):
            raise RegistryError(f"two flows own the same buttons: {owned}")
        object.__setattr__(self, "_steps", steps)
        object.__setattr__(self, "_owners", {})

    def with_flow(self, flow: Flow) -> Registry:
        """This registry with one more flow (last in every order)."""
        return Registry((*self.flows, flow), self.start, self.home)

    # --- steps ---------------------------------------------------------------------------------------

    def steps(self) -> frozenset[str]:
        """Every step a stored conversation may be at."""
        return frozenset(self._steps)

    def step(self, name: str) -> Step:
        """The step called `name`; an unknown name (a step since removed) is the home menu."""
        found = self._steps.get(name)
        return (found or self._steps[self.home])[1]

    def flow_of(self, step: str) -> Flow:
        found = self._steps.get(step)
        return (found or self._steps[self.home])[0]

    def first_step(self, kind: type[Draft]) -> str | None:
        """The first step of the flow that writes drafts of `kind`, if one does."""
        flow = self.draft_flow(kind)
        return next(iter(flow.steps), None) if flow is not None else None

    def draft_flow(self, kind: type[Draft]) -> Flow | None:
        return next((f for f in self.flows if f.draft is kind), None)

    # --- buttons and entry points --------------------------------------------------------------------

    def owner(self, choice: str) -> Flow | None:
        """The flow that owns a button id, if one does. Remembered: for a button no flow owns (a step's own,
        `cat:...`) every flow's every prefix was tried, about 70 calls on each button press; the ids
        pressed are few, and the memo is emptied at OWNERS_KEPT should a client send made-up ones."""
        try:
            return self._owners[choice]
        except KeyError:
            pass
        found = next((flow for flow in self.flows if flow.owns(choice)), None)
        if len(self._owners) >= OWNERS_KEPT:
            self._owners.clear()
        self._owners[choice] = found
        return found

    def always(self, choice: str) -> Flow | None:
        """The flow that honours this button even when it was not offered (the digest's stop)."""
        return self._always.get(choice)

    @cached_property
    def _always(self) -> dict[str, Flow]:
        found: dict[str, Flow] = {}
        for flow in self.flows:
            for choice in flow.always:
                found.setdefault(choice, flow)  # the first flow in the registry's order, as `next` found
        return found

    def menu(self) -> tuple[str, ...]:
        """The main menu's items, in the registry's order."""
        return tuple(flow.menu for flow in self.flows if flow.menu)

    def menu_flows(self) -> tuple[Flow, ...]:
        return self._menu_flows

    @cached_property
    def _menu_flows(self) -> tuple[Flow, ...]:
        return tuple(flow for flow in self.flows if flow.menu)

    def opener(self, item: str) -> Flow | None:
        return self._openers.get(item)

    @cached_property
    def _openers(self) -> dict[str, Flow]:
        return {flow.menu: flow for flow in self._menu_flows if flow.menu}  # one flow an item: checked

    def commands(self) -> tuple[Command, ...]:
        """Every slash command, in menu order."""
        return self._commands

    @cached_property
    def _commands(self) -> tuple[Command, ...]:
        return tuple(sorted((c for flow in self.flows for c in flow.commands), key=lambda c: c.order))

    @cached_property
    def _by_name(self) -> dict[str, Command]:
        return {c.name: c for c in self._commands}

    def command(self, name: str) -> Command | None:
        return self._by_name.get(name)

    def postback(self, payload: str) -> Command | None:
        """The command a Messenger postback payload runs."""
        return next((c for c in self.commands() if c.postback == payload), None)

    # --- routing -------------------------------------------------------------------------------------

    def _ordered(self, attribute: str) -> Iterator[Route]:
        ranked = [
            (route.rank, at, index, route)
            for at, flow in enumerate(self.flows)
            for index, route in enumerate(getattr(flow, attribute))
        ]
        return (entry[3] for entry in sorted(ranked, key=lambda entry: entry[:3]))

    # A registry never changes after it is built: every message reads these orderings, so they are
    # sorted once, on first use.
    @cached_property
    def _interrupts(self) -> tuple[Route, ...]:
        return tuple(self._ordered("interrupts"))

    @cached_property
    def _routes(self) -> tuple[Route, ...]:
        return tuple(self._ordered("routes"))

    @cached_property
    def phrase_lists(self) -> tuple[str, ...]:
        """The routing.yaml lists any interrupt or route is matched by."""
        routes = (*self._interrupts, *self._routes)
        return tuple(dict.fromkeys(name for route in routes for name in route.phrases))

    def interrupts(self) -> tuple[Route, ...]:
        return self._interrupts

    @cached_property
    def early_interrupts(self) -> tuple[Route, ...]:
        """The interrupts ranked below COMMANDS_RANK: tried even before cancel, back and language words."""
        return tuple(route for route in self._interrupts if route.rank < COMMANDS_RANK)

    @cached_property
    def late_interrupts(self) -> tuple[Route, ...]:
        """The other interrupts: tried after those words and the emergency, before the step's answer."""
        return tuple(route for route in self._interrupts if route.rank >= COMMANDS_RANK)

    def routes(self) -> tuple[Route, ...]:
        return self._routes

    def unrefused(self, parse: Parse, text: str, texts: Catalog) -> bool:
        """Whether a flow says this message must be answered even from a citizen sending too many."""
        return any(flow.unrefused(parse, text, texts) for flow in self.flows if flow.unrefused is not None)

    def threat_keeper(self) -> Flow | None:
        """The flow that keeps a danger to life said outside any flow (the report flow)."""
        return next((flow for flow in self.flows if flow.on_threat is not None), None)

    @cached_property
    def _needs_of(self) -> tuple[NeedsOf, ...]:
        """The flows' `needs`, without those that need nothing (most flows)."""
        return tuple(flow.needs for flow in self.flows if flow.needs is not needs_nothing)

    def needs(self, state: State, parse: Parse, inbound: Inbound) -> Needs:
        """Everything any flow needs looked up for this event: the union of what each flow declares. Asked
        on every message: only the flows that may need something are asked, and only what they do need
        joins the union (issue 23's profile: a union per flow per turn)."""
        needs = NOTHING
        for needs_of in self._needs_of:
            found = needs_of(state, parse, inbound)
            if not found.empty:  # the first found is the union so far as it is (Needs is frozen)
                needs = found if needs is NOTHING else needs | found
        return needs
