"""The queue page's filters and sort, read from (and written back to) the query string.

Values are matched ignoring case (`platform=FaceBook` is Facebook), through cyberunit.params as the API's
are; one the console does not know is said on the page, naming the choices, rather than quietly ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from urllib.parse import urlencode

from cyberunit.params import PLATFORMS, choose
from cyberunit.priority import CATEGORY_WEIGHT
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
    # "account": the list's rows under the account that published each case (storage.duplicates), a way
    # of showing the same page of cases: it filters nothing, and claim next and exports ignore it.
    group: str = ""

    def query(self, **changes: str) -> str:
        """This view's query string (defaults left out), with some fields changed."""
        view = replace(self, **changes)
        defaults = asdict(QueueView())
        return urlencode({k: v for k, v in asdict(view).items() if v and v != defaults[k]})

    def claim_fields(self) -> list[tuple[str, str]]:
        """The filters "claim next" keeps (what narrows which cases; not status, sort or page)."""
        narrowing = ("category", "platform", "language", "care", "scope")
        return [(name, getattr(self, name)) for name in narrowing if getattr(self, name)]

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


def read_view(params: Mapping[str, str]) -> tuple[QueueView, list[str]]:
    """The view in a query string, and what was wrong with it: each unknown value is left out (its
    default instead) and said in words an analyst can act on, naming the choices."""
    defaults = QueueView()
    values = {k: params.get(k, "").strip() or getattr(defaults, k) for k in asdict(defaults)}
    allowed: dict[str, tuple[str, ...]] = {
        "status": tuple(STATUSES),
        "category": CATEGORIES,
        "platform": PLATFORMS,
        "language": tuple(LANGUAGES),
        "care": ("yes", "no"),
        "scope": ("yes", "no"),
        "sort": tuple(SORTS),
        "order": ("asc", "desc"),
        "group": ("account",),
    }
    problems = []
    for name, choices in allowed.items():
        if values[name] == getattr(defaults, name):
            continue
        try:
            values[name] = choose(name, values[name], choices)
        except Invalid:
            problems.append(
                f"Unknown {name} “{values[name]}”: choose one of {', '.join(choices)}. "
                f"The list below leaves this filter out."
            )
            values[name] = getattr(defaults, name)
    if len(values["cursor"]) > 200:
        problems.append("That page link is not one this console gave out: showing the first page.")
        values["cursor"] = ""
    return QueueView(**values), problems


def parse_view(params: Mapping[str, str]) -> QueueView:
    """The view in a query string; an unknown value is a 400 naming the field and its choices."""
    view, problems = read_view(params)
    if problems:
        raise Invalid(problems[0].replace(" The list below leaves this filter out.", ""))
    return view


def export_query(view: QueueView) -> str:
    """The console export's query string for the cases `view` lists (all its pages; the status always
    written, since an export without one is every case)."""
    narrowing = {
        k: v for k, v in asdict(view).items() if k not in ("status", "sort", "order", "cursor", "group") and v
    }
    return urlencode({"status": view.status, **narrowing})


def export_filter(params: Mapping[str, str]) -> CaseFilter:
    """What the console export at `params` holds: a queue view's cases (every status when none is given,
    as the overview's export links send it)."""
    return parse_view({**params, "status": params.get("status", "").strip() or "all"}).case_filter()
