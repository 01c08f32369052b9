"""The case lifecycle in one place: what a new report does to a case in each status, and what the
reporter is told. docs/cases.md is the same table in words; tests check the two agree.
"""

from __future__ import annotations

from collections.abc import Iterable

OPEN = ("new", "in_review")
DECISIONS = ("referred", "escalated", "monitoring", "no_action", "merged")
SHARED = ("referred", "escalated")  # decisions that send the case out of the unit (refer, escalate)
REOPEN_REASON = "new report after decision"
URGENT_WHILE_MONITORING = "urgent report while monitoring"

# What a new report does to a case in each status: the status it moves to (None: it stays) and why.
# `merged` never appears: a report on a merged case lands on the case it was merged into.
ON_REPORT: dict[str, tuple[str | None, str | None]] = {
    "new": (None, None),
    "in_review": (None, None),  # the holder's decision is refused until they have seen it (claimed_reports)
    "referred": ("new", REOPEN_REASON),  # still online after a referral: the unit must look again
    "escalated": ("new", REOPEN_REASON),
    "no_action": ("new", REOPEN_REASON),
    # Monitoring is a decision to keep watching: routine reports are what it expects, counted and kept;
    # an urgent one reopens the case at once.
    "monitoring": (None, None),
}
ON_URGENT_REPORT: dict[str, tuple[str | None, str | None]] = {
    **ON_REPORT,
    "monitoring": ("new", URGENT_WHILE_MONITORING),
}

# Reporter-facing words (DESIGN): received, under review, action taken, reviewed.
PUBLIC = {
    "new": "received",
    "in_review": "under_review",
    "referred": "action_taken",
    "escalated": "action_taken",
    "monitoring": "reviewed",
    "no_action": "reviewed",
    "merged": "under_review",
}
FINAL = ("action_taken", "reviewed")  # the public statuses a notification announces

# Why a case was decided, as its reporters are told it (each in every language in responses/reasons.yaml),
# and the decisions each reason fits. The analyst picks one with the decision: `no_action` needs one (a
# reporter must never hear only "reviewed"), the others may have one; a merge has none. The reason is the
# case's, so every report on the case is told it.
REASONS: dict[str, tuple[str, ...]] = {
    "referred_to_platform": ("referred",),
    "passed_to_investigators": ("referred", "escalated"),
    "kept_under_watch": ("monitoring",),
    "not_extremist": ("no_action",),
    "already_removed": ("no_action",),
    "not_enough_information": ("no_action", "monitoring"),
    "duplicate": ("no_action",),
}
NEEDS_REASON = ("no_action",)
# What a reporter is told when the analyst picked no reason: only where the decision says it by itself.
DEFAULT_REASON = {"escalated": "passed_to_investigators", "monitoring": "kept_under_watch"}
# A report with several links is on several cases; it is told the most telling of their statuses.
_PRECEDENCE = ("referred", "escalated", "in_review", "new", "monitoring", "no_action", "merged")


def on_report(status: str, urgent: bool) -> tuple[str | None, str | None]:
    """(new status or None, reason) for a case in `status` receiving a report."""
    return (ON_URGENT_REPORT if urgent else ON_REPORT)[status]


def report_status(case_statuses: Iterable[str]) -> str:
    """The one case status a report with these cases answers `status CODE` with."""
    statuses = set(case_statuses)
    return next(s for s in _PRECEDENCE if s in statuses)


def public(case_statuses: Iterable[str]) -> str:
    return PUBLIC[report_status(case_statuses)]


def reasons_for(status: str) -> tuple[str, ...]:
    """The reasons that fit a decision, in the order they are offered."""
    return tuple(reason for reason, fits in REASONS.items() if status in fits)


def reason_refusal(status: str, reason: str | None) -> str | None:
    """Why `reason` cannot go with a `status` decision, in words an analyst can act on; None if it can."""
    fitting = reasons_for(status)
    if reason is None:
        if status in NEEDS_REASON:
            return f"a {status} decision needs a reason for its reporters: one of {', '.join(fitting)}"
        return None
    if reason not in REASONS:
        return f"reason must be one of {', '.join(REASONS)}"
    if status not in REASONS[reason]:
        fits = f"one of {', '.join(fitting)}" if fitting else "none"
        return f"the reason {reason} does not fit a {status} decision (for {status}: {fits})"
    return None
