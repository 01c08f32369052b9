"""The queue's bulk actions (cyberunit.bulk): the selection made with the rows' checkboxes (or `x`), a
preview page saying what will change and what cannot, then the confirmation and a page saying what
happened to each case.

The queue's form names each selected case in a field of its own (`pick-<id>`): a form keeps the first value
of a repeated name (cyberunit.console.web.read_form), and one name per case works without JavaScript. The
preview carries the cases that can change to the confirmation in one field, `ids`, each with the report
count shown (`12:3,14:1`), so a report arriving in between holds its case back.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.shared.config import agency_names
from cyberunit import bulk as B
from cyberunit.api import render_status
from cyberunit.console.web import Console, Ctx
from cyberunit.console.web import number as row_id
from storage.refusal import Invalid

CASE_ROLES = ("analyst", "supervisor")
PICK = "pick-"
MAX_IDS = 2_000  # characters of the confirmation's `ids` field (40 cases with their counts fit easily)


def picked(form: Mapping[str, str]) -> list[int]:
    """The cases ticked on the queue (fields `pick-<id>`), in the order the form lists them."""
    found = []
    for name in form:
        if name.startswith(PICK):
            number = row_id(name[len(PICK) :])
            if number is None:
                raise Invalid("the selection holds something that is not a case number")
            found.append(number)
    return B.selection(found)


def confirmed(form: Mapping[str, str]) -> tuple[list[int], dict[int, int]]:
    """The cases a preview said can change (`ids`: `id:report count`, comma-separated) and their counts."""
    raw = form.get("ids", "")
    if len(raw) > MAX_IDS:
        raise Invalid(f"Select at most {B.MAX_BULK} cases at once")
    ids: list[int] = []
    seen: dict[int, int] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        number, _, count = part.partition(":")
        case_id, shown = row_id(number), row_id(count) if count else None
        if case_id is None or (count and shown is None):
            raise Invalid("the confirmation is not one this console made: preview the action again")
        ids.append(case_id)
        if shown is not None:
            seen[case_id] = shown
    return B.selection(ids), seen


def numbers(raw: str) -> list[int]:
    """Case numbers of a comma-separated field (what is not one is left out), at most MAX_BULK."""
    found = [row_id(part.strip()) for part in raw[:MAX_IDS].split(",")]
    return [n for n in dict.fromkeys(found) if n is not None][: B.MAX_BULK]


def routes(console: Console) -> list[Route]:
    storage = console.storage

    def action(ctx: Ctx) -> B.Action:
        return B.action_of(ctx.form, agency_names(console.settings))

    async def preview(request: Request, ctx: Ctx) -> Response:
        """What the action would do to each case ticked on the queue; nothing changes."""
        chosen = action(ctx)
        lines = await B.plan(storage, chosen, picked(ctx.form), ctx.principal.name, supervisor(ctx))
        ok = [line for line in lines if line.ok]
        return console.render(
            request,
            "bulk_preview.html",
            ctx,
            action=chosen,
            ok=ok,
            refused=[line for line in lines if not line.ok],
            ids=",".join(f"{line.case_id}:{line.report_count}" for line in ok),
            refused_ids=",".join(str(line.case_id) for line in lines if not line.ok),
        )

    async def confirm(request: Request, ctx: Ctx) -> Response:
        """Do the action previewed, case by case; the page says what happened to each."""
        chosen = action(ctx)
        ids, seen = confirmed(ctx.form)
        lines = await B.apply(storage, chosen, ids, ctx.principal.name, supervisor(ctx), render_status, seen)
        # The cases the preview said could not change were left out of the confirmation: said again here,
        # as they are now, so the page accounts for the whole selection.
        skipped = [n for n in numbers(ctx.form.get("refused", "")) if n not in ids]
        if skipped:
            for line in await B.plan(storage, chosen, skipped, ctx.principal.name, supervisor(ctx)):
                line.says = "not changed: " + ("it could not be at the preview" if line.ok else line.says)
                line.ok = line.claimed = False
                lines.append(line)
        return console.render(
            request,
            "bulk_done.html",
            ctx,
            action=chosen,
            ok=[line for line in lines if line.ok],
            refused=[line for line in lines if not line.ok],
        )

    def supervisor(ctx: Ctx) -> bool:
        return ctx.principal.role == "supervisor"

    page = console.page
    return [
        Route("/console/bulk/preview", page(preview, *CASE_ROLES), methods=["POST"]),
        Route("/console/bulk/confirm", page(confirm, *CASE_ROLES), methods=["POST"]),
    ]
