"""What the analysts' API takes and gives, as pydantic models: the source of the OpenAPI document's schemas
(cyberunit.openapi). The handlers in cyberunit.api keep their own checks; these models describe them.

Response models allow properties they do not name (a newer server may say more); request models list
everything a handler reads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

INT32_MAX = 2**31 - 1  # ids and counts are the database's integer columns

CaseStatus = Literal["new", "in_review", "referred", "escalated", "monitoring", "no_action", "merged"]
DecisionStatus = Literal["referred", "escalated", "monitoring", "no_action", "merged"]
Agency = Literal["platform", "PTA", "NCCIA", "CTD"]
# storage.lifecycle.REASONS: why a case was decided, as its reporters are told it
Reason = Literal[
    "referred_to_platform",
    "passed_to_investigators",
    "kept_under_watch",
    "not_extremist",
    "already_removed",
    "not_enough_information",
    "duplicate",
]
SupportStatus = Literal["new", "in_progress", "done"]


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


# --- errors ---------------------------------------------------------------------------------------


class Problem(Model):
    """An error, as RFC 9457 problem details (media type application/problem+json)."""

    type: str = Field(description='A URI naming the problem type; "about:blank" when the status says it all')
    title: str = Field(description="The HTTP status in words")
    status: int = Field(ge=400, le=599, description="The HTTP status code, repeated")
    detail: str = Field(description="What went wrong, and how to fix the request when that is possible")


# --- cases ----------------------------------------------------------------------------------------


class PriorityParts(Model):
    """The parts the priority is the sum of, so an analyst sees why a case ranks where it does."""

    model_config = ConfigDict(extra="allow")

    category: float = Field(description="Weight of the gravest category reported")
    urgency: float = Field(description="Added when a report was marked urgent")
    reporters: float = Field(description="Distinct reporters, on a log scale")
    recency: float = Field(description="Halves every three days since the last report")
    designated: float = Field(
        default=0.0,
        description="Added when the case's reports name a designated (proscribed) organisation; present "
        "only then (see Case.designated)",
    )


class Designation(Model):
    """A designated (proscribed) organisation the case's reports name, as the operator's list gives it."""

    name: str
    source: str = Field(description="Where the designation is published, as the list says")
    date: str = Field(description="The date of the designation (YYYY-MM-DD), as the list says")
    aliases: list[str] = Field(description="The names of the list found in the reports (any script)")
    found_in: list[Literal["description", "handle", "link", "forward"]] = Field(
        description="Where they were found: a description, an @handle, the link's own slug, a forwarded post"
    )


class Case(Model):
    """A reported page, account, channel or post: one case however many citizens reported it. Nothing
    about who reported."""

    model_config = ConfigDict(extra="allow")

    id: int
    canonical_url: str | None = Field(description="The link in canonical form; null for a case without one")
    fingerprint: str | None = Field(description="What reports of the same page share (platform and page)")
    title: str | None = Field(
        default=None, description="For a case without a link: the handle, or the first words of a report"
    )
    platform: str
    status: CaseStatus
    urgent: bool
    priority: float = Field(description="The sum of priority_parts; the queue's order")
    priority_parts: PriorityParts
    categories: list[str]
    report_count: int
    reporter_count: int = Field(description="Distinct reporters (each anonymous report counts as one)")
    first_seen: datetime
    last_seen: datetime
    assignee: str | None = Field(description="Who holds or was assigned the case")
    lease_until: datetime | None = Field(description="When the holder's lease runs out")
    updated_at: datetime
    needs_care: bool = Field(description="Only a supervisor may refer or escalate it (see care_reason)")
    care_reason: str | None
    agency: str | None = Field(description="Who a referred or escalated case was sent to")
    merged_into: int | None
    decided_at: datetime | None
    shared_at: datetime | None = Field(
        default=None, description="When the case was first referred or escalated (shared with partners)"
    )
    claimed_reports: int | None = Field(
        default=None, description="report_count when the case was claimed: a decision must have seen them"
    )
    claimed_at: datetime | None = Field(
        default=None, description='When it was last claimed or assigned (its reporters: "under review since")'
    )
    reason: Reason | None = Field(
        default=None, description="Why it was decided, as every reporter of the case is told it"
    )
    scope_check: bool = Field(
        default=False,
        description="One of its reports went on past the scope notice (see Report.scope_check): check that "
        "this is not opinion or a blasphemy accusation",
    )
    designated: list[Designation] = Field(
        default_factory=list,
        description="Designated (proscribed) organisations its reports name, matched when each report came "
        "in against the operator's list (RAABTA_DESIGNATED_FILE); weighed in priority_parts.designated",
    )


class KeptCopy(Model):
    """The server's copy of an evidence file: when it was stored and when the retention purge removed it."""

    stored_at: datetime
    removed_at: datetime | None
    days_kept: int | None


class Evidence(Model):
    kind: str = Field(description="link, handle, photo, document or forward")
    value: str = Field(description="The canonical link, the handle, a file id or the forwarded text")
    raw: str | None = Field(default=None, description="The link exactly as the citizen wrote it")
    platform: str | None
    fingerprint: str | None
    sha256: str | None = Field(description="Of a downloaded photo or document; kept after the copy is purged")
    kept_copy: KeptCopy | None = Field(description="null when no copy was downloaded")


class Report(Model):
    """One citizen's report on the case, under its reference code; never who sent it."""

    code: str
    channel: str
    language: str
    category: str
    description: str
    urgent: bool
    scope_check: bool = Field(
        default=False,
        description="The reporter was told Raabta is for violence, recruitment, financing, threats and "
        "weapons, and that accusing someone can endanger lives, after a report about opinion, criticism of "
        "the state or army, sectarian disagreement or a blasphemy accusation (the scope notice); they went "
        "on believing it incites violence",
    )
    created_at: datetime
    evidence: list[Evidence]


class Note(Model):
    author: str
    note: str
    at: datetime


class HistoryEvent(Model):
    """An audit event about the case (or a case merged into it)."""

    at: datetime
    actor: str
    action: str
    detail: dict[str, Any]
    case: int | None = Field(default=None, description="The case the event is about (a merged one's id)")


class CaseDetail(Case):
    """A case with its reports, their evidence, analysts' notes and its history."""

    reports: list[Report]
    notes: list[Note]
    history: list[HistoryEvent]


class CasePage(Model):
    items: list[Case]
    next: str | None = Field(description="The cursor of the next page; null on the last page")


class CaseList(Model):
    items: list[Case]


class ClaimRequest(Model):
    limit: int = Field(default=1, ge=1, le=50, description="How many cases to claim")
    lease_seconds: int = Field(default=900, ge=60, le=4 * 3600, description="How long you hold them")


class Extend(Model):
    lease_seconds: int = Field(default=900, ge=60, le=4 * 3600)


class Decision(Model):
    status: DecisionStatus
    note: str = Field(min_length=1, max_length=2000, description="Why; kept with the case")
    agency: Agency | None = Field(
        default=None, description="Required to refer; only for a referral or an escalation"
    )
    merge_into: int | None = Field(
        default=None, ge=1, le=INT32_MAX, description="Required to merge: the open case to merge into"
    )
    seen_reports: int | None = Field(
        default=None,
        ge=0,
        le=INT32_MAX,
        description="The report_count you saw; the decision is refused (409) if the case has more now. "
        "By default, the count when you claimed it.",
    )
    reason: Reason | None = Field(
        default=None,
        description="Why, as every reporter of the case is told it (in their language, with the date). "
        "Required for no_action; it must fit the decision: referred_to_platform (referred), "
        "passed_to_investigators (referred, escalated), kept_under_watch (monitoring), not_extremist, "
        "already_removed, duplicate (no_action), not_enough_information (no_action, monitoring); none "
        "for a merge.",
    )


class DecisionResult(Model):
    case: Case
    notified: int = Field(description="Reporters told of the outcome")


class NoteRequest(Model):
    note: str = Field(min_length=1, max_length=2000)


class Assign(Model):
    assignee: str = Field(min_length=1, max_length=64, description="The analyst's token name")


class Stats(Model):
    model_config = ConfigDict(extra="allow")

    cases_by_status: dict[str, int]
    reports_by_category: dict[str, int]
    reports_by_language: dict[str, int]
    reports_by_channel: dict[str, int]
    cases_by_platform: dict[str, int]
    reports_per_day: dict[str, int] = Field(description="By UTC day, YYYY-MM-DD")
    decisions: int
    median_hours_to_decision: float | None


class StixBundle(Model):
    """A STIX 2.1 bundle: the producer identity and one indicator per case shared with partners."""

    model_config = ConfigDict(extra="allow")

    type: Literal["bundle"]
    id: str
    objects: list[dict[str, Any]]


# --- audit ----------------------------------------------------------------------------------------


class AuditEvent(Model):
    id: int
    at: datetime
    actor: str
    action: str
    subject: str = Field(description='What the event is about, e.g. "case:12" or "support:3"')
    detail: dict[str, Any]
    hash: str = Field(description="Links the event to the one before it (the audit chain)")


class AuditPage(Model):
    items: list[AuditEvent]


# --- families' callback requests ------------------------------------------------------------------


class SupportRequest(Model):
    """A family's callback request as counsellors see it: never the sealed number or the chat address."""

    model_config = ConfigDict(extra="allow")

    id: int
    code: str
    language: str
    topic: str
    note: str
    has_phone: bool
    can_reply: bool = Field(description="Whether a message can reach the family in their chat now")
    reply_refusal: str | None = Field(description="Why it cannot, when it cannot")
    status: SupportStatus
    created_at: datetime
    handled_by: str | None = Field(
        description="Who handles it: the counsellor who took it (only they see the number), or who closed it"
    )
    handled_at: datetime | None
    phone_refusal: str | None = Field(
        default=None,
        description="Why no number can be shown (none given, deleted at closing or when the retention "
        "period ended, or the family deleted their data); only on answers about one request",
    )


class SupportRequestList(Model):
    items: list[SupportRequest]


class PhoneReveal(Model):
    phone: str
    request: SupportRequest


class Reveal(Model):
    override: bool = Field(
        default=False,
        description="Supervisors and admins: see the number of a request they do not hold; needs a reason",
    )
    reason: str | None = Field(
        default=None,
        max_length=500,
        description="Why the override is needed: kept in the request's note; the audit log holds its length",
    )


class Take(Model):
    to: str | None = Field(
        default=None,
        max_length=64,
        description="Supervisors and admins: the token name of the counsellor to give the request to. "
        "Counsellors leave it out: they take the request themselves",
    )


class Reply(Model):
    text: str = Field(min_length=1, max_length=2000)


class Close(Model):
    note: str | None = Field(
        default=None, max_length=2000, description="A closing note, kept with the request"
    )


# --- blocks ---------------------------------------------------------------------------------------


class Block(Model):
    id: int
    reporter: str = Field(description="A short pseudonym prefix, never the citizen")
    reason: str
    blocked_at: datetime


class BlockList(Model):
    items: list[Block]


class Lifted(Model):
    lifted: int = Field(description="The id of the block lifted")


# --- search ---------------------------------------------------------------------------------------

MatchKind = Literal["code", "url", "handle", "text"]


class SearchHit(Model):
    """A case a search found (storage.search): what it is and how it matched. Nothing about who reported."""

    case_id: int
    matched_by: list[MatchKind] = Field(
        description="What matched: a report's reference code, the case's link, an account handle, words"
    )
    codes: list[str] = Field(description="Reference codes of the reports that matched (a few at most)")
    platform: str
    status: CaseStatus
    categories: list[str]
    canonical_url: str | None
    title: str | None = Field(description="For a case without a link: the handle, or the first words")
    snippet: str = Field(description="The first words of the matching report's description (or the newest)")
    report_count: int
    last_seen: datetime
    merged_into: int | None = Field(description="Where a merged case's reports went")


class SearchQuery(Model):
    codes: list[str] = Field(description="Reference codes read in q, as XXXX-XXXX")
    urls: list[str] = Field(description="Links read in q, in canonical form")
    handles: list[str] = Field(description="Account names read in q (an @handle, a profile link)")
    terms: list[str] = Field(description="Words read in q, normalised as descriptions are indexed")


class SearchResults(Model):
    query: SearchQuery = Field(description="How q was read")
    items: list[SearchHit] = Field(
        description="Code matches first, then links, handles, words (newest first)"
    )


# --- takedowns ------------------------------------------------------------------------------------

CheckResult = Literal["still_online", "removed", "geo_blocked"]  # storage.takedowns.RESULTS


class ReferralRequest(Model):
    agency: Agency = Field(description="Who the notice went to: one of RAABTA_AGENCIES (any case)")
    template: str = Field(
        min_length=1,
        max_length=32,
        description="The notice template it was written from (responses/notices.yaml: meta, telegram, "
        "youtube, tiktok, x, pta)",
    )
    reference: str | None = Field(
        default=None, max_length=100, description="The reference the platform or agency gave the notice"
    )
    sent_at: datetime | None = Field(
        default=None,
        description="When it was sent; default now. Not in the future, not before the first report; a time "
        "without an offset is Pakistan time",
    )


class Referral(Model):
    """A takedown notice sent about a referred or escalated case."""

    id: int
    case_id: int
    agency: str
    reference: str | None
    template: str
    sent_at: datetime
    by: str = Field(description="Who recorded it")


class CheckRequest(Model):
    result: CheckResult = Field(description="What the page shows now")
    note: str | None = Field(default=None, max_length=500)


class TakedownCheck(Model):
    """What an analyst found on looking at a referred page again."""

    id: int
    case_id: int
    result: CheckResult
    checked_at: datetime
    by: str
    note: str | None


class LastCheck(Model):
    result: CheckResult
    checked_at: datetime


class DueCase(Case):
    """A referred case due for a takedown check."""

    waiting_since: datetime = Field(description="Its latest notice, or its decision when none was recorded")
    days_waiting: int
    last_notice_at: datetime | None
    last_check: LastCheck | None = Field(description="null: never checked")


class DueList(Model):
    age_days: int = Field(description="The check age used (default RAABTA_TAKEDOWN_CHECK_DAYS)")
    items: list[DueCase] = Field(description="Longest waiting first")


class RemovalFigure(Model):
    name: str = Field(description="The platform, or the agency (its first notice's, else the decision's)")
    removed: int = Field(description="Cases seen removed")
    median_hours: float | None = Field(description="From the first notice (or decision) to the removal")
    waiting: int = Field(description="Cases referred, or with a notice, not seen removed")


class RemovalTimes(Model):
    removed: int
    median_hours: float | None
    by_platform: list[RemovalFigure]
    by_agency: list[RemovalFigure]
