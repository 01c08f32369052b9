"""docs/flows.md, written from the registry: what each flow is, how a citizen reaches it, its steps.

`python -m bot.dialogue.docs > docs/flows.md` regenerates it; a test fails when the file is out of date,
so the page never drifts from what the bot does.
"""

from __future__ import annotations

import inspect

from bot.dialogue.flow import Flow, Route, needs_nothing
from bot.dialogue.flows import REGISTRY
from bot.dialogue.registry import Registry
from responses import Catalog, catalog

HEADER = """# Flows

Written from the registry of flows (`bot/dialogue/flows/`) by `python -m bot.dialogue.docs`; a test fails
when this page is out of date. What is global to every conversation stays in the engine
(`bot/dialogue/engine.py`): the choice of language, cancel, back, emergency directions, stale buttons,
messages we cannot read. Everything below is declared by the flows. Routes are tried in rank order after
the current step had its say; interrupts come before the step (below rank 10 even before cancel and back).
Routing phrases live in `responses/routing.yaml`.
"""


def _route(route: Route, texts: Catalog) -> str:
    ways = []
    if route.intents:
        ways.append(
            "intent "
            + " or ".join(f"`{i}`" for i in sorted(route.intents))
            + (" (sure)" if route.sure else "")
        )
    for name in route.phrases:
        sample = ", ".join(f'"{p}"' for p in texts.phrases(name)[:3])
        ways.append(f"phrases `{name}` ({sample}, …)")
    if route.when is not None:
        ways.append("a condition")
    return f"| {route.rank} | {route.note} | {'; '.join(ways) or 'always'} |"


def _flow(flow: Flow, texts: Catalog) -> list[str]:
    lines = [f"## {flow.name}", "", flow.doc, ""]
    if flow.menu:
        label = flow.menu_label or f"buttons.menu_{flow.menu}"
        lines.append(f'- Main menu: `menu:{flow.menu}` ("{texts.text(label, "en")}")')
    for command in flow.commands:
        where = [] if command.describe is None else ["Telegram's menu"]
        if command.postback:
            where.append(f"Messenger `{command.postback}`")
        lines.append(f"- Command: `/{command.name}`" + (f" ({', '.join(where)})" if where else ""))
    if flow.choices:
        lines.append("- Buttons it owns: " + ", ".join(f"`{c}`" for c in flow.choices))
    if flow.always:
        lines.append("- Honoured even when not offered: " + ", ".join(f"`{c}`" for c in flow.always))
    if flow.needs is not needs_nothing:
        lines.append(
            f"- Needs looked up: {(inspect.getdoc(flow.needs) or flow.needs.__name__).splitlines()[0]}"
        )
    if flow.on_emergency is not None:
        lines.append(
            f"- An emergency in its content steps: kept in the flow (classifier floor {flow.emergency_floor})"
        )
    if flow.steps:
        lines += ["", "| step | kind |", "| --- | --- |"]
        for name, step in flow.steps.items():
            kinds = [k for k in ("asks", "place", "root", "content") if getattr(step, k)]
            lines.append(f"| `{name}` | {', '.join(kinds) or '-'} |")
    for title, routes in (("Interrupts", flow.interrupts), ("Routes", flow.routes)):
        if routes:
            lines += ["", f"{title}:", "", "| rank | for | matched by |", "| --- | --- | --- |"]
            lines += [_route(route, texts) for route in routes]
    return [*lines, ""]


def describe(registry: Registry = REGISTRY, texts: Catalog | None = None) -> str:
    texts = texts or catalog()
    lines = [HEADER]
    menu = ", ".join(f"`{item}`" for item in registry.menu())
    lines += [f"Main menu, in order: {menu}. Start step `{registry.start}`, home step `{registry.home}`.", ""]
    for flow in registry.flows:
        lines += _flow(flow, texts)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(describe(), end="")  # noqa: T201
