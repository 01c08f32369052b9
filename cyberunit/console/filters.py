"""The queue page's filters and sort, read from (and written back to) the query string."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from urllib.parse import urlencode

from cyberunit.priority import CATEGORY_WEIGHT
from nlu.urls import PLATFORMS
from responses.languages import NAMES
from storage.queue import DECISIONS, OPEN, SORTS, CaseFilter
from storage.refusal import Invalid

CATEGORIES = tuple(CATEGORY_WEIGHT)
LANGUAGES = NAMES
STATUSES = {
    "open": "Open",
    "all": "All",
    **{s: s.replace("_", " ") for s in (*OPEN, *DECISIONS)},
}
SORT_LABELS = {
    "priority": "Priority",
    "last_seen": "Last report",
    "first_seen": "First report",
    "report_count": "Report count",
}
CARE = {"": "Any", "yes": "Needs care", "no": "No care flag"}
SCOPE = {"": "Any", "yes": "Scope check", "no": "No scope check"}


@dataclass(frozen=True, slots=True)
class QueueView:
    status: str = "open"
    category: str = ""
    platform: str = ""
    language: str = ""
    care: str = ""
    scope: str = ""
    sort: str = "priority"
    order: str = "desc"
    cursor: str = ""

    def query(self, **changes: str) -> str:
        """This view's query string (defaults left out), with some fields changed."""
        view = replace(self, **changes)
        defaults = asdict(QueueView())
        return urlencode({k: v for k, v in asdict(view).items() if v and v != defaults[k]})

    def case_filter(self) -> CaseFilter:
        statuses = OPEN if self.status == "open" else () if self.status == "all" else (self.status,)
        return CaseFilter(
            status=statuses,
            category=self.category or None,
            platform=self.platform or None,
            language=self.language or None,
            needs_care={"yes": True, "no": False}.get(self.care),
            scope_check={"yes": True, "no": False}.get(self.scope),
            sort=self.sort,
            descending=self.order == "desc",
        )


def parse_view(params: Mapping[str, str]) -> QueueView:
    """The view in a query string; an unknown value is a 400 naming the field."""
    view = QueueView(**{k: params.get(k, "") or getattr(QueueView(), k) for k in asdict(QueueView())})
    allowed: dict[str, Mapping[str, object] | tuple[str, ...]] = {
        "status": STATUSES,
        "category": ("", *CATEGORIES),
        "platform": ("", *PLATFORMS),
        "language": ("", *LANGUAGES),
        "care": CARE,
        "scope": SCOPE,
        "sort": tuple(SORTS),
        "order": ("asc", "desc"),
    }
    for name, choices in allowed.items():
        if getattr(view, name) not in choices:
            raise Invalid(f"unknown {name} filter")
    if len(view.cursor) > 200:
        raise Invalid("cursor is not one this console gave out")
    return view
