"""The report flow: link -> category -> description -> danger -> evidence -> confirm -> reference code."""

from __future__ import annotations

from bot.dialogue.flows import info
from bot.dialogue.turn import Turn
from bot.dialogue.types import (
    CATEGORIES,
    MAX_DESCRIPTION,
    MAX_EVIDENCE,
    MAX_LINKS,
    Attachment,
    Inbound,
    KeepContact,
    Link,
    SubmitReport,
)
from nlu.urls import canonicalize, platform_of
from responses import LANGUAGES

STEPS = (
    "report.link",
    "report.category",
    "report.description",
    "report.danger",
    "report.evidence",
    "report.confirm",
)
_DONE_INTENTS = frozenset({"affirm", "deny", "thanks", "goodbye"})


def _links(turn: Turn) -> list[dict[str, str]]:
    links = turn.state.draft.setdefault("links", [])
    assert isinstance(links, list)
    return links


def _evidence(turn: Turn) -> list[dict[str, str | None]]:
    evidence = turn.state.draft.setdefault("evidence", [])
    assert isinstance(evidence, list)
    return evidence


def _handles(turn: Turn) -> list[str]:
    handles = turn.state.draft.setdefault("handles", [])
    assert isinstance(handles, list)
    return handles


def _where_count(turn: Turn) -> int:
    return len(_links(turn)) + len(_handles(turn))


def _found_links(turn: Turn, inbound: Inbound | None) -> list[tuple[str, str, str]]:
    """(raw, canonical, platform) of the links typed in the message and those the channel supplied."""
    found = [(e.value, e.extra["canonical"], e.extra["platform"]) for e in turn.parse.urls()]
    for raw in inbound.links if inbound else ():
        canonical = canonicalize(raw)
        if canonical:
            found.append((raw, canonical, platform_of(canonical)))
    return found


def _take_links(turn: Turn, inbound: Inbound | None = None) -> int:
    """Add the message's links and @handles to the draft; how many were new."""
    links = _links(turn)
    known = {link["canonical"] for link in links}
    added = 0
    for raw, canonical, platform in _found_links(turn, inbound):
        if canonical not in known and len(links) < MAX_LINKS:
            links.append({"raw": raw, "canonical": canonical, "platform": platform})
            known.add(canonical)
            added += 1
    handles = _handles(turn)
    for handle in turn.parse.values("handle"):
        if handle not in handles and len(handles) < MAX_LINKS:
            handles.append(handle)
            added += 1
    return added


def _take_attachments(turn: Turn, inbound: Inbound) -> int:
    evidence = _evidence(turn)
    known = {(e["kind"], e["ref"]) for e in evidence}
    added = 0
    for a in inbound.attachments:
        if (a.kind, a.ref) not in known and len(evidence) < MAX_EVIDENCE:
            evidence.append({"kind": a.kind, "ref": a.ref, "fingerprint": a.fingerprint})
            added += 1
    return added


def start(turn: Turn, inbound: Inbound | None = None) -> None:
    """Begin a report; what the first message already answered is skipped."""
    urgent = bool(turn.state.draft.get("urgent")) if turn.state.step.startswith("report.") else False
    turn.goto("report.link")
    turn.state.draft = {"links": [], "handles": [], "evidence": [], "urgent": urgent}
    if turn.parse.intent.name == "emergency":
        turn.state.draft["urgent"] = True
    found = _take_links(turn, inbound)
    if inbound is not None:
        found += _take_attachments(turn, inbound)
    if found:
        turn.say("report.link_received", count=_where_count(turn))
        _ask_category(turn)
    else:
        _ask_link(turn)


def _ask_link(turn: Turn) -> None:
    turn.goto("report.link")
    turn.say("report.ask_link", turn.button("link:none"), *turn.nav())


def _ask_category(turn: Turn) -> None:
    turn.goto("report.category")
    buttons = [turn.button(f"cat:{c}", f"categories.{c}") for c in CATEGORIES]
    turn.say("report.ask_category", *buttons, *turn.nav())


def _ask_description(turn: Turn) -> None:
    turn.goto("report.description")
    needs_words = not _where_count(turn) and not _evidence(turn)
    if needs_words:
        turn.say("report.ask_description_required", *turn.nav())
    else:
        turn.say("report.ask_description", turn.button("desc:skip"), *turn.nav())


def _ask_danger(turn: Turn) -> None:
    if turn.state.draft.get("urgent"):
        _ask_evidence(turn)
        return
    turn.goto("report.danger")
    turn.say("report.ask_danger", turn.button("danger:yes"), turn.button("danger:no"), *turn.nav())


def _ask_evidence(turn: Turn) -> None:
    turn.goto("report.evidence")
    turn.say("report.ask_evidence", turn.button("evidence:done"), *turn.nav())


def _summary(turn: Turn) -> str:
    draft = turn.state.draft
    where = [link["canonical"] for link in _links(turn)] + _handles(turn)
    lines = [turn.t("report.summary_title")]
    lines.append(turn.t("report.summary_where", where=", ".join(where) if where else turn.t("report.none")))
    lines.append(turn.t("report.summary_category", category=turn.t(f"categories.{draft['category']}")))
    description = str(draft.get("description") or "")
    lines.append(turn.t("report.summary_description", description=description or turn.t("report.none")))
    lines.append(turn.t("report.summary_evidence", count=len(_evidence(turn))))
    if draft.get("urgent"):
        lines.append(turn.t("report.summary_urgent"))
    return "\n".join(lines)


def ask_confirm(turn: Turn) -> None:
    turn.goto("report.confirm")
    turn.say_text(_summary(turn), turn.button("confirm:submit"), *turn.nav())


def prompt(turn: Turn) -> None:
    """Ask again what the current report step asks."""
    asks = {
        "report.link": _ask_link,
        "report.category": _ask_category,
        "report.description": _ask_description,
        "report.danger": _ask_danger,
        "report.evidence": _ask_evidence,
        "report.confirm": ask_confirm,
    }
    asks[turn.state.step](turn)


def _category_from_text(turn: Turn, text: str) -> str | None:
    folded = text.strip().casefold()
    for code in CATEGORIES:
        labels = {turn.catalog.text(f"categories.{code}", lang).casefold() for lang in LANGUAGES}
        if folded in labels or folded == code:
            return code
    if folded.isdecimal() and folded.isascii() and 1 <= int(folded) <= len(CATEGORIES):
        return CATEGORIES[int(folded) - 1]
    return None


def _submit(turn: Turn) -> None:
    if not turn.context.may_report:
        turn.say("report.quota", turn.button("confirm:submit"), *turn.nav())
        return
    draft = turn.state.draft
    code = turn.context.new_code
    first = _links(turn)[:1]
    known = any(link["canonical"] in turn.context.known_links for link in first)
    turn.effects.append(
        SubmitReport(
            code=code,
            category=str(draft["category"]),
            description=str(draft.get("description") or ""),
            urgent=bool(draft.get("urgent")),
            language=turn.lang,
            links=tuple(Link(x["raw"], x["canonical"], x["platform"]) for x in _links(turn)),
            evidence=tuple(
                Attachment(str(e["kind"]), str(e["ref"]), e.get("fingerprint")) for e in _evidence(turn)
            ),
            handles=tuple(_handles(turn)),
        )
    )
    turn.state.draft = {}
    turn.state.history = []
    turn.state.step = "updates"
    turn.say("report.done", code=code)
    if known:
        turn.say("report.already_known")
    turn.say("report.ask_updates", turn.button("updates:yes"), turn.button("updates:no"))


def on_updates(turn: Turn, wanted: bool) -> None:
    """The answer to "would you like updates here?": only a yes keeps a way to reach the citizen."""
    if wanted:
        turn.effects.append(KeepContact())
    turn.state.step = "menu"
    turn.say("report.updates_on" if wanted else "report.updates_off", *turn.menu_buttons())


def on_choice(turn: Turn, choice: str) -> None:
    step = turn.state.step
    draft = turn.state.draft
    if step == "report.link" and choice == "link:none":
        _ask_category(turn)
    elif step == "report.category" and choice.startswith("cat:") and choice[4:] in CATEGORIES:
        draft["category"] = choice[4:]
        _ask_description(turn)
    elif step == "report.description" and choice == "desc:skip":
        _ask_danger(turn)
    elif step == "report.danger" and choice in ("danger:yes", "danger:no"):
        if choice == "danger:yes":
            draft["urgent"] = True
            info.emergency(turn, offer_buttons=False)
        _ask_evidence(turn)
    elif step == "report.evidence" and choice == "evidence:done":
        ask_confirm(turn)
    elif step == "report.confirm" and choice == "confirm:submit":
        _submit(turn)
    else:
        turn.say("common.stale_button")
        prompt(turn)


def on_text(turn: Turn, inbound: Inbound, text: str) -> None:
    """A typed answer (or attachment) at a report step. Nothing the citizen sends is dropped silently."""
    step = turn.state.step
    draft = turn.state.draft
    intent = turn.parse.intent.name
    if step == "report.link":
        if _take_links(turn, inbound) + _take_attachments(turn, inbound):
            turn.say("report.link_received", count=_where_count(turn))
            _ask_category(turn)
        else:
            turn.say("report.no_link_found")
            _ask_link(turn)
    elif step == "report.category":
        code = _category_from_text(turn, text)
        if code is None:
            turn.say("report.choose_category")
            _ask_category(turn)
        else:
            draft["category"] = code
            _ask_description(turn)
    elif step == "report.description":
        if len(text) > MAX_DESCRIPTION:
            turn.say("report.description_too_long", limit=MAX_DESCRIPTION)
            _ask_description(turn)
            return
        _take_links(turn, inbound)
        _take_attachments(turn, inbound)
        if not text.strip() and not inbound.attachments and not inbound.links:
            _ask_description(turn)
            return
        draft["description"] = text.strip()
        _ask_danger(turn)
    elif step == "report.danger":
        if intent == "affirm":
            on_choice(turn, "danger:yes")
        elif intent == "deny":
            on_choice(turn, "danger:no")
        else:
            turn.say("report.answer_yes_no")
            _ask_danger(turn)
    elif step == "report.evidence":
        added = _take_links(turn, inbound) + _take_attachments(turn, inbound)
        if added:
            turn.say("report.evidence_added", *[turn.button("evidence:done"), *turn.nav()], count=added)
        elif intent in _DONE_INTENTS or not text.strip():
            ask_confirm(turn)
        else:
            note = str(draft.get("description") or "")
            draft["description"] = (note + "\n" + text.strip()).strip()[:MAX_DESCRIPTION]
            turn.say("report.note_added", turn.button("evidence:done"), *turn.nav())
    elif step == "report.confirm":
        if intent == "affirm":
            _submit(turn)
        else:
            turn.say("report.confirm_hint")
            ask_confirm(turn)
