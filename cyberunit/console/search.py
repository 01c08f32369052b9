"""The console's search (the box in every page's header): cases by code, link, handle or words.

A plain GET form, so it works without JavaScript, and a results URL that can be bookmarked or shared with a
colleague. A whole reference code typed (any case, spaced or not) that finds its report opens the case at
once: the analyst quoting a citizen's code wants that case, not a list of one.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from cyberunit.console.web import Console, Ctx
from nlu.refcode import parse_code
from storage.search import MAX_QUERY, read_query, search_read

CASE_ROLES = ("analyst", "supervisor")
SHOWN = 50  # results on the page
MATCH_LABELS = {"code": "reference code", "url": "link", "handle": "handle", "text": "words"}


def routes(console: Console) -> list[Route]:
    async def search_page(request: Request, ctx: Ctx) -> Response:
        q = request.query_params.get("q", "")
        if len(q) > MAX_QUERY:
            return console.error(
                request, 400, f"A search is at most {MAX_QUERY} characters: search for a part of it.", ctx
            )
        read = read_query(q) if q.strip() else None
        hits = await search_read(console.storage.db, read, SHOWN) if read is not None else []
        if parse_code(q) is not None and hits and "code" in hits[0]["matched_by"]:
            return RedirectResponse(f"/console/cases/{hits[0]['case_id']}", status_code=303)
        return console.render(
            request,
            "search.html",
            ctx,
            search_q=q,
            read=read,
            hits=hits,
            shown=SHOWN,
            labels=MATCH_LABELS,
        )

    return [Route("/console/search", console.page(search_page, *CASE_ROLES), methods=["GET"])]
