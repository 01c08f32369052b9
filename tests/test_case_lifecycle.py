"""The case lifecycle (docs/cases.md) on both backends: no report is ever swallowed by a decision.

Each test is one of the things that went wrong when the queue was tried on PostgreSQL with real reports.
"""

from __future__ import annotations

import itertools
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from storage import lifecycle
from storage.casekeys import case_keys, normalise
from storage.queue import CaseFilter, Queue, QueueError, urgent_open_cases
from storage.records import EvidenceRecord, NewReport, ReportTold, TurnRecord
from storage.refusal import Conflict, Invalid, NotAllowed
from storage.repository import Storage, utcnow
from storage.schema import cases, contacts, outbox, reporters, reports

_codes = itertools.count(1)


def render(told: ReportTold) -> str:
    return f"{told.code}:{told.word}"


async def file_report(
    storage: Storage,
    *urls: str,
    reporter: str | None = None,
    urgent: bool = False,
    description: str = "seen it",
    category: str = "recruitment",
    handle: str | None = None,
    consent: bool = False,
) -> str:
    """A citizen's report through the same commit the pipeline uses; with `consent`, they said yes to
    updates on it in the next turn."""
    n = next(_codes)
    code = f"L{n:03d}-TEST"
    evidence = tuple(EvidenceRecord("link", u, u.upper(), "facebook") for u in urls)
    if handle:
        evidence += (EvidenceRecord("handle", handle, platform="telegram"),)
    who = reporter or f"anon-{n}"
    report = NewReport(code, reporter, "webchat", "en", category, description, urgent, evidence)
    conversation = who
    version = (await storage.load_conversation(conversation)).version
    result = await storage.commit_turn(
        TurnRecord("webchat", f"e{n}", conversation, version, {"step": "updates"}, [], (report,))
    )
    assert result.status.value == "ok"
    if consent:
        await storage.commit_turn(
            TurnRecord(
                "webchat",
                f"e{n}-yes",
                conversation,
                version + 1,
                {"step": "menu"},
                [],
                contact=b"sealed",
                updates_for=(code,),
            )
        )
    return code


async def case_id_of(storage: Storage, code: str) -> int:
    case = await storage.reports.case_of(code)
    assert case is not None
    return int(case["id"])


async def claim_and_decide(
    queue: Queue, case_id: int, status: str, analyst: str = "a1", **kwargs: Any
) -> dict[str, Any]:
    claimed = await queue.claim(analyst, limit=50)
    assert case_id in [c["id"] for c in claimed]
    for other in claimed:
        if other["id"] != case_id:
            await queue.release(other["id"], analyst)
    agency = {"referred": "platform"}.get(status)
    if status == "no_action":
        kwargs.setdefault("reason", "not_extremist")
    result = await queue.decide(
        case_id, analyst, status, "decided", agency=agency, render=render, supervisor=True, **kwargs
    )
    return result.case


async def status_of(storage: Storage, code: str) -> str:
    return (await storage.reports.statuses([code]))[code]


# --- a report on a decided case ----------------------------------------------------------------------


@pytest.mark.parametrize("decided", ["no_action", "referred", "escalated"])
async def test_an_urgent_report_reopens_a_decided_case_into_the_urgent_lane(
    storage: Storage, decided: str
) -> None:
    queue = Queue(storage)
    first = await file_report(storage, "https://facebook.com/liberty.market")
    case_id = await case_id_of(storage, first)
    await claim_and_decide(queue, case_id, decided)
    assert await status_of(storage, first) == decided

    urgent = await file_report(
        storage, "https://facebook.com/liberty.market", urgent=True, description="attack tomorrow 10am"
    )
    assert await case_id_of(storage, urgent) == case_id
    assert await status_of(storage, urgent) == "new"  # "received", not "reviewed"
    assert case_id in [c["id"] for c in await urgent_open_cases(storage)]
    detail = await queue.get_case(case_id)
    reopened = [h for h in detail["history"] if h["action"] == "case.reopened"]
    assert reopened and reopened[0]["detail"]["reason"] == lifecycle.REOPEN_REASON
    assert (await queue.claim("a2"))[0]["id"] == case_id  # back in the queue, first


async def test_a_routine_report_on_a_non_urgent_decided_case_reopens_it_outside_the_urgent_lane(
    storage: Storage,
) -> None:
    queue = Queue(storage)
    first = await file_report(storage, "https://facebook.com/p1", urgent=True)
    case_id = await case_id_of(storage, first)
    await claim_and_decide(queue, case_id, "no_action")
    later = await file_report(storage, "https://facebook.com/p1")
    assert await status_of(storage, later) == "new"
    # the urgent report came before the decision: the reopened case is not urgent again because of it
    assert case_id not in [c["id"] for c in await urgent_open_cases(storage)]


async def test_monitoring_counts_routine_reports_and_reopens_on_an_urgent_one(storage: Storage) -> None:
    queue = Queue(storage)
    first = await file_report(storage, "https://facebook.com/watched")
    case_id = await case_id_of(storage, first)
    await claim_and_decide(queue, case_id, "monitoring")
    routine = await file_report(storage, "https://facebook.com/watched")
    case = await queue.get_case(case_id)
    assert case["status"] == "monitoring" and case["report_count"] == 2
    assert await status_of(storage, routine) == "monitoring"
    await file_report(storage, "https://facebook.com/watched", urgent=True)
    case = await queue.get_case(case_id)
    assert case["status"] == "new" and case["urgent"] is True
    assert [h["detail"]["reason"] for h in case["history"] if h["action"] == "case.reopened"] == [
        lifecycle.URGENT_WHILE_MONITORING
    ]


async def test_a_report_on_a_merged_case_lands_on_the_case_it_was_merged_into(storage: Storage) -> None:
    queue = Queue(storage)
    a = await case_id_of(storage, await file_report(storage, "https://facebook.com/a"))
    b = await case_id_of(storage, await file_report(storage, "https://facebook.com/b"))
    await queue.claim("a1", limit=2)
    await queue.decide(a, "a1", "merged", "same page", merge_into=b)
    later = await file_report(storage, "https://facebook.com/a", urgent=True)
    assert await case_id_of(storage, later) == b
    assert await status_of(storage, later) == "in_review"
    target = await queue.get_case(b)
    assert target["report_count"] == 3 and target["urgent"] is True
    assert b in [c["id"] for c in await urgent_open_cases(storage)]


# --- merges --------------------------------------------------------------------------------------------


async def test_a_case_cannot_be_merged_into_a_closed_or_merged_case(storage: Storage) -> None:
    queue = Queue(storage)
    closed = await case_id_of(storage, await file_report(storage, "https://facebook.com/closed"))
    await claim_and_decide(queue, closed, "no_action")
    source = await case_id_of(storage, await file_report(storage, "https://facebook.com/source"))
    await queue.claim("a1")
    with pytest.raises(QueueError) as refused:
        await queue.decide(source, "a1", "merged", "dup", merge_into=closed)
    assert isinstance(refused.value, Conflict) and "closed" in refused.value.message
    assert (await queue.get_case(source))["status"] == "in_review"
    assert (await queue.get_case(closed))["report_count"] == 1


async def test_a_merge_moves_reports_notes_flags_and_history_and_keeps_times_true(storage: Storage) -> None:
    queue = Queue(storage)
    old = await file_report(storage, "https://facebook.com/old-copy")
    source = await case_id_of(storage, old)
    async with storage.writer.begin() as conn:  # the source's report is from a week ago
        week_ago = utcnow() - timedelta(days=7)
        await conn.execute(update(reports).where(reports.c.code == old).values(created_at=week_ago))
        await conn.execute(
            update(cases)
            .where(cases.c.id == source)
            .values(first_seen=week_ago, last_seen=week_ago, needs_care=True, care_reason="burst")
        )
    target = await case_id_of(storage, await file_report(storage, "https://facebook.com/new-copy"))
    target_before = await queue.get_case(target)
    await queue.claim("a1", limit=2)
    await queue.add_note(source, "a1", "the same group reposts this")
    await queue.decide(source, "a1", "merged", "same page, reposted", merge_into=target)

    merged = await queue.get_case(target)
    assert merged["report_count"] == 2
    assert {r["code"] for r in merged["reports"]} >= {old}
    assert merged["first_seen"] < target_before["first_seen"]  # the older report's time
    assert merged["last_seen"] == target_before["last_seen"]  # not reset to the merge time
    assert "the same group reposts this" in [n["note"] for n in merged["notes"]]
    assert merged["needs_care"] is True and "from case" in merged["care_reason"]
    assert [h["detail"] for h in merged["history"] if h["action"] == "case.merged_from"] == [{"from": source}]
    assert any(h["case"] == source and h["action"] == "report.received" for h in merged["history"])
    # the flag moved: the target cannot be referred by an analyst either
    with pytest.raises(QueueError) as refused:
        await queue.decide(target, "a1", "referred", "x", agency="platform")
    assert isinstance(refused.value, NotAllowed)


async def test_reporters_never_get_two_contradicting_notifications(storage: Storage) -> None:
    queue = Queue(storage)
    code = await file_report(storage, "https://facebook.com/x1", reporter="r1", consent=True)
    x1 = await case_id_of(storage, code)
    await claim_and_decide(queue, x1, "no_action")
    await file_report(storage, "https://facebook.com/x1", reporter="r2")  # reopens
    x2 = await case_id_of(storage, await file_report(storage, "https://facebook.com/x2"))
    await queue.claim("a1", limit=2)
    await queue.decide(x1, "a1", "merged", "dup", merge_into=x2, render=render)
    assert await status_of(storage, code) == "in_review"  # under review again, and told nothing
    await queue.decide(
        x2, "a1", "no_action", "still nothing", render=render, seen_reports=3, reason="not_extremist"
    )
    async with storage.reader.connect() as conn:
        texts = list((await conn.scalars(select(outbox.c.payload).order_by(outbox.c.id))).all())
    assert [t["text"] for t in texts] == [f"{code}:reviewed"]  # no "under review" after "reviewed"
    assert await status_of(storage, code) == "no_action"


# --- every link, consent per report, no-link fingerprints, canonical case -------------------------------


async def test_every_link_of_a_report_joins_its_own_case_under_one_code(storage: Storage) -> None:
    queue = Queue(storage)
    code = await file_report(
        storage, "https://facebook.com/one", "https://facebook.com/two", "https://facebook.com/three"
    )
    page = await queue.list_cases(CaseFilter())
    assert len(page.items) == 3
    for item in page.items:
        detail = await queue.get_case(item["id"])
        assert [r["code"] for r in detail["reports"]] == [code]
        assert detail["report_count"] == 1
    # the link as the citizen sent it is shown with the evidence
    evidence = detail["reports"][0]["evidence"]
    assert {e["raw"] for e in evidence} == {
        "HTTPS://FACEBOOK.COM/ONE",
        "HTTPS://FACEBOOK.COM/TWO",
        "HTTPS://FACEBOOK.COM/THREE",
    }


async def test_a_report_with_two_links_tells_the_most_telling_status(storage: Storage) -> None:
    queue = Queue(storage)
    code = await file_report(storage, "https://facebook.com/m1", "https://facebook.com/m2")
    m1 = (await queue.list_cases(CaseFilter())).items
    first = min(c["id"] for c in m1)
    await claim_and_decide(queue, first, "referred")
    assert await status_of(storage, code) == "referred"


async def test_consent_is_per_report(storage: Storage) -> None:
    queue = Queue(storage)
    silent = await file_report(storage, "https://facebook.com/q1", reporter="r9", consent=False)
    await file_report(storage, "https://facebook.com/q2", reporter="r9", consent=True)  # "yes" later
    result = await claim_and_decide(queue, await case_id_of(storage, silent), "referred")
    assert result["status"] == "referred"
    async with storage.reader.connect() as conn:
        assert await conn.scalar(select(outbox.c.id).where(outbox.c.kind == "status")) is None
        assert await conn.scalar(select(contacts.c.id)) is not None  # they did keep a contact


async def test_no_link_reports_meet_on_a_normalised_fingerprint_with_a_readable_title(
    storage: Storage,
) -> None:
    queue = Queue(storage)
    a = await file_report(storage, description="I saw it")
    b = await file_report(storage, description="  i saw   it. ")
    assert await case_id_of(storage, a) == await case_id_of(storage, b)
    case = await queue.get_case(await case_id_of(storage, a))
    assert case["title"] == "I saw it" and case["fingerprint"].startswith("fp:")
    urdu = await file_report(storage, description="يہ پيج ہتھيار بيچتا ہے")  # Arabic yeh, as typed
    same = await file_report(storage, description="یہ پیج ہتھیار بیچتا ہے۔")
    assert await case_id_of(storage, urdu) == await case_id_of(storage, same)
    handle = await file_report(storage, handle="@Recruiter_One", description="one thing")
    again = await file_report(storage, handle="@recruiter_one", description="another thing")
    assert await case_id_of(storage, handle) == await case_id_of(storage, again)
    assert (await queue.get_case(await case_id_of(storage, handle)))["title"] == "@Recruiter_One (telegram)"


def test_normalise_folds_case_spacing_punctuation_and_letter_forms() -> None:
    assert normalise("I  saw IT!!") == normalise("i saw it")
    assert normalise("كيا") == normalise("کیا")
    assert normalise("۱۲۳") == "123"
    report = NewReport("X", None, "t", "en", "other", "words " * 40, False)
    title = case_keys(report)[0].title
    assert title is not None and len(title) <= 81 and title.endswith("…")


# --- needs care, priority, audit consistency -------------------------------------------------------------


async def test_needs_care_guards_escalation_too(storage: Storage) -> None:
    queue = Queue(storage)
    case_id = 0
    for _ in range(5):
        case_id = await case_id_of(storage, await file_report(storage, "https://facebook.com/brigaded"))
    assert (await queue.get_case(case_id))["needs_care"] is True
    await queue.claim("a1")
    for status in ("escalated", "referred"):
        with pytest.raises(QueueError) as refused:
            await queue.decide(
                case_id, "a1", status, "x", agency="platform" if status == "referred" else None
            )
        assert isinstance(refused.value, NotAllowed)
    done = await queue.decide(case_id, "a1", "escalated", "supervisor checked", supervisor=True)
    assert done.case["status"] == "escalated"


async def test_reporters_with_accepted_reports_do_not_look_like_a_brigade(storage: Storage) -> None:
    queue = Queue(storage)
    # five citizens who each had a report referred before, a week ago
    for i in range(5):
        code = await file_report(storage, f"https://facebook.com/earlier{i}", reporter=f"trusted{i}")
        await claim_and_decide(queue, await case_id_of(storage, code), "referred")
    async with storage.writer.begin() as conn:
        week_ago = utcnow() - timedelta(days=7)
        await conn.execute(update(reports).values(created_at=week_ago))
        await conn.execute(update(reporters).values(created_at=week_ago))
    for i in range(5):
        code = await file_report(storage, "https://facebook.com/real-threat", reporter=f"trusted{i}")
    assert (await queue.get_case(await case_id_of(storage, code)))["needs_care"] is False
    for i in range(5):  # five citizens new to Raabta within the hour
        code = await file_report(storage, "https://facebook.com/new-pile-on", reporter=f"newcomer{i}")
    assert (await queue.get_case(await case_id_of(storage, code)))["needs_care"] is True


async def test_priority_is_the_sum_of_its_parts_recency_included(storage: Storage) -> None:
    queue = Queue(storage)
    code = await file_report(storage, "https://facebook.com/prio", urgent=True, category="violent_threat")
    case = await queue.get_case(await case_id_of(storage, code))
    parts = case["priority_parts"]
    assert set(parts) == {"category", "urgency", "reporters", "recency"}
    assert case["priority"] == pytest.approx(round(sum(parts.values()), 2))
    assert parts["recency"] == pytest.approx(10.0)
    async with storage.writer.begin() as conn:
        await conn.execute(update(cases).values(last_seen=utcnow() - timedelta(days=3)))
    await queue.rescore()
    later = await queue.get_case(case["id"])
    assert later["priority_parts"]["recency"] == pytest.approx(5.0, abs=0.01)
    assert later["priority"] == pytest.approx(round(sum(later["priority_parts"].values()), 2))
    listed = (await queue.list_cases(CaseFilter())).items
    assert listed[0]["priority_parts"] == later["priority_parts"]


async def test_the_audit_records_the_agency_the_case_has(storage: Storage) -> None:
    queue = Queue(storage)
    case_id = await case_id_of(storage, await file_report(storage, "https://facebook.com/agency"))
    await queue.claim("a1")
    with pytest.raises(QueueError):
        await queue.decide(case_id, "a1", "no_action", "x", agency="PTA", reason="duplicate")  # an agency
    done = await queue.decide(case_id, "a1", "escalated", "to investigators", agency="CTD")
    decided = [h for h in (await queue.get_case(case_id))["history"] if h["action"] == "case.decided"]
    assert decided[-1]["detail"]["agency"] == done.case["agency"] == "CTD"


async def test_a_decision_on_a_case_that_got_reports_since_the_claim_is_refused(storage: Storage) -> None:
    queue = Queue(storage)
    case_id = await case_id_of(storage, await file_report(storage, "https://facebook.com/late"))
    await queue.claim("a1")
    late = await file_report(storage, "https://facebook.com/late", urgent=True)
    with pytest.raises(QueueError) as refused:
        await queue.decide(case_id, "a1", "no_action", "nothing here", reason="not_extremist")
    assert isinstance(refused.value, Conflict) and "seen_reports=2" in refused.value.message
    assert await status_of(storage, late) == "in_review"
    done = await queue.decide(case_id, "a1", "escalated", "read both", seen_reports=2)
    assert done.case["status"] == "escalated"


async def test_decisions_on_cases_you_do_not_hold_change_nothing(storage: Storage) -> None:
    queue = Queue(storage)
    case_id = await case_id_of(storage, await file_report(storage, "https://facebook.com/held"))
    await queue.claim("a1")
    before = await queue.get_case(case_id)
    with pytest.raises(QueueError) as refused:
        await queue.decide(case_id, "a2", "no_action", "not mine", reason="not_extremist")
    assert isinstance(refused.value, Conflict)
    assert await queue.get_case(case_id) == before


def test_docs_cases_md_states_the_lifecycle_table() -> None:
    """docs/cases.md and storage.lifecycle say the same: one row per status."""
    text = (Path(__file__).parent.parent / "docs" / "cases.md").read_text()
    for status, (moved, _reason) in lifecycle.ON_REPORT.items():
        urgent_moved = lifecycle.ON_URGENT_REPORT[status][0]
        row = re.search(rf"^\| `{status}` \|(.+)$", text, re.M)
        assert row, f"docs/cases.md has no row for {status}"
        cells = [c.strip() for c in row.group(1).split("|")]
        assert cells[0] == (f"`{moved}`" if moved else "stays"), (status, cells)
        assert cells[1] == (f"`{urgent_moved}`" if urgent_moved else "stays"), (status, cells)


async def test_an_undelivered_status_message_is_withdrawn_when_the_case_reopens(storage: Storage) -> None:
    queue = Queue(storage)
    code = await file_report(storage, "https://facebook.com/pending", reporter="r5", consent=True)
    case_id = await case_id_of(storage, code)
    await claim_and_decide(queue, case_id, "no_action")
    async with storage.reader.connect() as conn:  # queued, not yet fetched by the citizen's web chat
        assert await conn.scalar(select(outbox.c.subject).where(outbox.c.status == "pending")) == (
            f"report:{code}"
        )
    await file_report(storage, "https://facebook.com/pending", urgent=True)  # reopens before delivery
    assert await storage.outbox.take("webchat", "r5") == []  # "reviewed" is no longer true
    assert await status_of(storage, code) == "new"
    await claim_and_decide(queue, case_id, "escalated", seen_reports=2)
    assert [n.payload["text"] for n in await storage.outbox.take("webchat", "r5")] == [f"{code}:action_taken"]


async def test_a_message_still_true_through_another_link_is_not_withdrawn(storage: Storage) -> None:
    queue = Queue(storage)
    code = await file_report(
        storage, "https://facebook.com/both1", "https://facebook.com/both2", reporter="r6", consent=True
    )
    page = (await queue.list_cases(CaseFilter())).items
    first, second = sorted(c["id"] for c in page)
    await claim_and_decide(queue, first, "referred")  # "action taken" queued for r6
    await claim_and_decide(queue, second, "no_action")  # still "action taken": nothing new to say
    await file_report(storage, "https://facebook.com/both2")  # reopens the second case only
    assert await status_of(storage, code) == "referred"
    assert [n.payload["text"] for n in await storage.take_notifications("webchat", "r6")] == [
        f"{code}:action_taken"
    ]


# --- the reason a reporter is told ------------------------------------------------------------------------


async def test_a_decision_reason_is_required_for_no_action_and_must_fit_the_decision(
    storage: Storage,
) -> None:
    queue = Queue(storage)
    case_id = await case_id_of(storage, await file_report(storage, "https://facebook.com/why"))
    await queue.claim("a1")
    before = await queue.get_case(case_id)
    for status, reason, words in (
        ("no_action", None, "needs a reason"),
        ("no_action", "kept_under_watch", "does not fit"),
        ("referred", "not_extremist", "does not fit"),
        ("monitoring", "made_up", "reason must be one of"),
        ("merged", "duplicate", "does not fit"),
    ):
        with pytest.raises(Invalid) as refused:
            await queue.decide(
                case_id,
                "a1",
                status,
                "x",
                agency="platform" if status == "referred" else None,
                merge_into=999 if status == "merged" else None,
                reason=reason,
            )
        assert words in refused.value.message, (status, reason, refused.value.message)
    assert await queue.get_case(case_id) == before  # nothing changed
    done = await queue.decide(case_id, "a1", "no_action", "gone", reason="already_removed")
    assert done.case["reason"] == "already_removed"
    decided = [h for h in (await queue.get_case(case_id))["history"] if h["action"] == "case.decided"]
    assert decided[-1]["detail"]["reason"] == "already_removed"  # audited with the decision
    assert await storage.verify_audit_chain()


def test_every_reason_fits_a_decision_and_every_decision_but_a_merge_has_one() -> None:
    assert lifecycle.NEEDS_REASON == ("no_action",)
    for reason, fits in lifecycle.REASONS.items():
        assert fits and set(fits) <= set(lifecycle.DECISIONS) - {"merged"}, reason
    for status in set(lifecycle.DECISIONS) - {"merged"}:
        assert lifecycle.reasons_for(status), status
        assert lifecycle.reason_refusal(status, lifecycle.reasons_for(status)[0]) is None
    for status, reason in lifecycle.DEFAULT_REASON.items():
        assert status in lifecycle.REASONS[reason]


async def test_a_reporter_is_told_the_dates_and_the_reason_of_the_case_and_no_more(storage: Storage) -> None:
    queue = Queue(storage)
    code = await file_report(storage, "https://facebook.com/told", reporter="r7", consent=True)
    other = await file_report(storage, "https://facebook.com/told")  # a second report on the same case
    case_id = await case_id_of(storage, code)
    received = (await storage.reports.told([code]))[code]
    assert (received.word, received.reviewed, received.decided, received.reason) == (
        "received",
        None,
        None,
        None,
    )
    await queue.claim("a1")
    under = (await storage.reports.told([code]))[code]
    assert under.word == "under_review" and under.reviewed is not None and under.decided is None
    assert under.received == received.received
    told: list[ReportTold] = []

    def keep(t: ReportTold) -> str:
        told.append(t)
        return f"{t.code}:{t.word}:{t.reason}"

    await queue.decide(case_id, "a1", "no_action", "nothing", render=keep, reason="not_extremist")
    both = await storage.reports.told([code, other, "NONE-0000"])
    assert set(both) == {code, other}  # an unknown code is absent
    for each in both.values():  # the case's reason applies to every report on it
        assert each.word == "reviewed" and each.reason == "not_extremist" and each.decided is not None
    assert told == [both[code]]  # the notification was rendered from the same facts
    assert [n.payload["text"] for n in await storage.take_notifications("webchat", "r7")] == [
        f"{code}:reviewed:not_extremist"
    ]
    # reopened: "received" again, and the old decision's date and reason are not told
    await file_report(storage, "https://facebook.com/told")
    again = (await storage.reports.told([code]))[code]
    assert (again.word, again.decided, again.reason) == ("received", None, None)


async def test_without_a_reason_a_decision_is_told_what_it_says_by_itself(storage: Storage) -> None:
    queue = Queue(storage)
    watched = await file_report(storage, "https://facebook.com/watched")
    escalated = await file_report(storage, "https://facebook.com/escalated")
    referred = await file_report(storage, "https://facebook.com/referred")
    await claim_and_decide(queue, await case_id_of(storage, watched), "monitoring")
    await claim_and_decide(queue, await case_id_of(storage, escalated), "escalated")
    await claim_and_decide(queue, await case_id_of(storage, referred), "referred")
    told = await storage.reports.told([watched, escalated, referred])
    assert told[watched].reason == "kept_under_watch"
    assert told[escalated].reason == "passed_to_investigators"
    assert told[referred].reason is None  # the platform or an agency: the text says it plainly
    case = await queue.get_case(await case_id_of(storage, watched))
    assert case["reason"] is None  # stored as the analyst decided it


def test_reasons_yaml_has_exactly_the_reasons_of_the_lifecycle_and_docs_list_them() -> None:
    from responses import catalog

    written = {key.removeprefix("reasons.") for key in catalog().texts if key.startswith("reasons.")}
    assert written == set(lifecycle.REASONS)
    text = (Path(__file__).parent.parent / "docs" / "cases.md").read_text()
    for reason, fits in lifecycle.REASONS.items():
        row = re.search(rf"^\| `{reason}` \|([^|]+)\|", text, re.M)
        assert row, f"docs/cases.md has no row for the reason {reason}"
        assert {c.strip(" `") for c in row.group(1).split(",")} == set(fits), reason
