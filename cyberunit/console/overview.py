"""The overview (charts of reports and decisions), exports and the audit log."""

from __future__ import annotations

from datetime import UTC, datetime
from statistics import median
from typing import Any

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cyberunit.console import charts
from cyberunit.console.filters import CATEGORIES, LANGUAGES, export_filter
from cyberunit.console.web import Console, Ctx, number
from cyberunit.exports import FORMATS
from responses import Catalog, catalog
from storage import claim_asks
from storage.queue import DECISIONS, OPEN, audit_page, decision_times
from storage.refusal import Invalid
from storage.takedowns import Takedowns

CASE_ROLES = ("analyst", "supervisor")
CLAIM_DAYS = (7, 30)  # the "claims people ask about" charts: the last week and the last month


def _ranked(counts: dict[str, int], names: dict[str, str] | None = None) -> list[charts.Item]:
    named = names or {}
    return sorted(((named.get(k, k), float(v)) for k, v in counts.items()), key=lambda kv: (-kv[1], kv[0]))


def _claim_title(texts: Catalog, claim: str) -> str:
    """A claim's short title in English (its button label in responses/claims.yaml); its id when the
    library no longer has it."""
    key = f"claims.{claim}.button"
    return texts.text(key, "en") if texts.has(key) else claim


def _claims_asked(texts: Catalog, counted: list[tuple[str, int]], days: int) -> Markup:
    """The claims asked about most in the last `days` days, as counts only (storage/claim_asks.py)."""
    return charts.bars(
        f"chart-claims-{days}",
        f"Claims people ask about, last {days} days",
        [(_claim_title(texts, claim), float(count)) for claim, count in counted],
        "asks",
        empty=f"No claim asked about in the last {days} days.",
    )


def _timed(figures: list[dict[str, Any]]) -> list[charts.Timed]:
    """storage.takedowns' figures as the removal chart's rows."""
    return [(f["name"], f["median_hours"], f["removed"], f["waiting"]) for f in figures]


def routes(console: Console) -> list[Route]:
    async def overview(request: Request, ctx: Ctx) -> Response:
        stats = await console.queue.stats()
        removal = await Takedowns(console.storage).removal_times()
        times = await decision_times(console.storage)
        now = datetime.now(UTC)
        today = now.date()
        asked = {days: await claim_asks.top(console.storage, days, now) for days in CLAIM_DAYS}
        decided_per_day: dict[str, int] = {}
        for t in times:
            day = t["decided_at"][:10]
            decided_per_day[day] = decided_per_day.get(day, 0) + 1
        by_status = stats["cases_by_status"]
        categories = stats["reports_by_category"]
        hours = [t["hours"] for t in times]
        figures = {
            "reports": sum(categories.values()),
            "open": sum(by_status.get(s, 0) for s in OPEN),
            "decisions": stats["decisions"],
            "median_hours": median(hours) if hours else None,
            "removal_hours": removal["median_hours"],
            "removed": removal["removed"],
        }
        charts_shown = [
            (
                "Reports per day",
                "last 30 days",
                charts.columns(
                    "chart-per-day",
                    "Reports per day, last 30 days",
                    charts.last_days(stats["reports_per_day"], today),
                    "reports",
                ),
            ),
            (
                "Reports by category",
                "",
                charts.bars(
                    "chart-category",
                    "Reports by category",
                    [(c.replace("_", " "), float(categories[c])) for c in CATEGORIES if categories.get(c)]
                    + _ranked({k: v for k, v in categories.items() if k not in CATEGORIES}),
                    "reports",
                ),
            ),
            (
                "Cases by platform",
                "",
                charts.bars(
                    "chart-platform", "Cases by platform", _ranked(stats["cases_by_platform"]), "cases"
                ),
            ),
            (
                "Reports by language",
                "",
                charts.bars(
                    "chart-language",
                    "Reports by language",
                    _ranked(stats["reports_by_language"], LANGUAGES),
                    "reports",
                ),
            ),
            (
                "Reports by channel",
                "",
                charts.bars(
                    "chart-channel", "Reports by channel", _ranked(stats["reports_by_channel"]), "reports"
                ),
            ),
            (
                "Decisions",
                "by outcome, all time",
                charts.bars(
                    "chart-decisions",
                    "Decisions by outcome",
                    [(s.replace("_", " "), float(by_status.get(s, 0))) for s in DECISIONS],
                    "cases",
                ),
            ),
            (
                "Time to decision",
                "from the first report",
                charts.bars(
                    "chart-time", "Time from first report to decision", charts.hours_histogram(hours), "cases"
                ),
            ),
            (
                "Decisions per day",
                "last 30 days",
                charts.columns(
                    "chart-decided-per-day",
                    "Decisions per day, last 30 days",
                    charts.last_days(decided_per_day, today),
                    "decisions",
                ),
            ),
            (
                "Time to removal by platform",
                "median hours from the notice to a check that saw it removed",
                charts.timed_bars(
                    "chart-removal-platform",
                    "Median hours to removal, by platform",
                    _timed(removal["by_platform"]),
                ),
            ),
            (
                "Time to removal by agency",
                "median hours, by the agency the notice went to",
                charts.timed_bars(
                    "chart-removal-agency", "Median hours to removal, by agency", _timed(removal["by_agency"])
                ),
            ),
            *(
                (
                    "Claims people ask about",
                    f"most asked, last {days} days (counts only, never who asked)",
                    _claims_asked(catalog(), asked[days], days),
                )
                for days in CLAIM_DAYS
            ),
        ]
        return console.render(
            request,
            "overview.html",
            ctx,
            figures=figures,
            charts=charts_shown,
            by_status=by_status,
            exports=ctx.principal.role in CASE_ROLES,
        )

    async def export(request: Request, _ctx: Ctx) -> Response:
        kind = request.query_params.get("format", "")
        if kind not in FORMATS:
            raise Invalid("format must be csv, json or stix")
        media, suffix, build = FORMATS[kind]
        # The queue's "Export these" sends its filters; the overview's links send none: every case.
        rows = await console.queue.export_rows(filters=export_filter(request.query_params))
        return Response(
            build(rows),
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="raabta-cases.{suffix}"'},
        )

    async def audit(request: Request, ctx: Ctx) -> Response:
        after = number(request.query_params.get("after", "0"))
        if after is None:
            raise Invalid("after must be an event number")
        events = await audit_page(console.storage, after, 100)
        return console.render(
            request,
            "audit.html",
            ctx,
            events=events,
            after=after,
            next=events[-1]["id"] if len(events) == 100 else None,
        )

    page = console.page
    return [
        Route("/console/overview", page(overview, *CASE_ROLES, "admin"), methods=["GET"]),
        Route("/console/export", page(export, *CASE_ROLES), methods=["GET"]),
        Route("/console/audit", page(audit, "supervisor", "admin"), methods=["GET"]),
    ]
