"""The report flow, three taps on the fast path: link -> kind of content -> Send, with the reference code.

The summary offers "Add details" (a description, then screenshots and more links); the danger question
comes only for threats (a danger said in any message marks the report urgent anyway). With no link, the
citizen says where they saw it (a group's name, an @name and its app, an admin's number) or describes it.
Typed answers count at every step: a button's label or a synonym in any language, words typed where a link
was asked (kept as the description), help or a reference code asked mid-report (answered, then the same
question again).

Evidence is taken at every step: a screenshot, file, forwarded post or link sent while another question is
open is kept on the draft (up to MAX_EVIDENCE files), acknowledged, and the same question is asked again.
Its caption answers a button question only when it is exactly one of the offered buttons' labels; otherwise
the caption is kept as a note with the description.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bot.dialogue import words
from bot.dialogue.flow import CONFIDENT, NOTHING, Command, Flow, Needs, Route, Step
from bot.dialogue.flows import home
from bot.dialogue.turn import Turn
from bot.dialogue.types import (
    CATEGORIES,
    MAX_DESCRIPTION,
    MAX_EVIDENCE,
    MAX_LINKS,
    MAX_TEXT,
    Attachment,
    Draft,
    Inbound,
    KeepContact,
    Link,
    State,
    SubmitReport,
    strings,
)
from bot.shared.status import status_text
from nlu.refcode import parse_code
from nlu.types import Parse
from nlu.urls import canonicalize, platform_of
from responses import Catalog
from responses.languages import LANGUAGES

LINK = "report.link"
WHERE = "report.where"
CATEGORY = "report.category"
DESCRIPTION = "report.description"
DANGER = "report.danger"
EVIDENCE = "report.evidence"
CONFIRM = "report.confirm"
SCOPE = "report.scope"
UPDATES = "updates"
# The fast path is LINK, CATEGORY, CONFIRM; WHERE, DANGER, DESCRIPTION, EVIDENCE and SCOPE when needed.
STEPS = (LINK, WHERE, CATEGORY, DANGER, DESCRIPTION, EVIDENCE, CONFIRM)
_DONE_INTENTS = frozenset({"affirm", "deny", "thanks", "goodbye"})
_SMALL_TALK = _DONE_INTENTS | {"greet"}
_ASIDE_WORDS = 4  # "help", "status K7QM-2XD9": a longer message at a report step is the citizen's answer
_WORDS_KEPT = 4  # words typed where a link was asked: this many or more are kept as the description
_KIND_WORDS = 5  # "thank you so much", "assalam o alaikum": small talk at the link question is this short
_WORDS_AROUND_LINK = 3  # words typed with a link in one message: this many or more are kept as a note
SURE_TO_SEND = 0.9  # a typed yes sends the report only this sure ("hmm" reads as yes at 0.8)
EVIDENCE_KINDS = ("photo", "document", "forward")


@dataclass
class ReportDraft(Draft):
    """A report being written. Checked when made: a known category, lists within their limits."""

    kind = "report"
    V1_KEYS = frozenset({"links", "handles", "evidence", "notes", "description", "category", "urgent"})

    links: list[Link] = field(default_factory=list)
    handles: list[str] = field(default_factory=list)
    evidence: list[Attachment] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    description: str = ""
    category: str | None = None
    urgent: bool = False
    scope_check: bool = False  # went on past the scope notice: analysts see the mark

    @property
    def unfinished(self) -> bool:
        return (
            bool(
                self.links or self.handles or self.evidence or self.notes or self.description or self.category
            )
            or self.urgent
        )

    @property
    def precious(self) -> bool:
        return bool(self.links or self.handles or self.evidence) or self.urgent

    def undone(self, now: Draft) -> Draft:
        """Back takes the step's answer away (a link, a category, a description) but never a file or a
        caption sent meanwhile, nor the urgent mark: those stay as they are `now`."""
        if not isinstance(now, ReportDraft):
            return self
        evidence = [*self.evidence, *(e for e in now.evidence if e not in self.evidence)][:MAX_EVIDENCE]
        notes = [*self.notes, *(n for n in now.notes if n not in self.notes)][:MAX_EVIDENCE]
        return replace(self, evidence=evidence, notes=notes, urgent=self.urgent or now.urgent)

    def __post_init__(self) -> None:
        if self.category is not None and self.category not in CATEGORIES:
            raise ValueError(f"unknown category {self.category!r}")
        if len(self.links) > MAX_LINKS or len(self.handles) > MAX_LINKS or len(self.evidence) > MAX_EVIDENCE:
            raise ValueError("more links or evidence than a report holds")
        if len(self.description) > MAX_DESCRIPTION:
            raise ValueError("description longer than MAX_DESCRIPTION")

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "links": [{"raw": x.raw, "canonical": x.canonical, "platform": x.platform} for x in self.links],
            "handles": list(self.handles),
            "evidence": [{"kind": e.kind, "ref": e.ref, "fingerprint": e.fingerprint} for e in self.evidence],
            "notes": list(self.notes),
            "description": self.description,
            "category": self.category,
            "urgent": self.urgent,
            "scope_check": self.scope_check,
        }

    def settled(self, written: Mapping[str, Any]) -> bool:
        """What reading `written` back (`from_dict`) would show, told without reading it: within the limits
        it cuts to, every value of the type it reads (tests/test_state_roundtrip.py holds the two
        together). A report's turns write one every turn; reading it back cost three times as much."""
        links, handles, evidence, notes = self.links, self.handles, self.evidence, self.notes
        return (
            len(links) <= MAX_LINKS
            and len(handles) <= MAX_LINKS
            and len(evidence) <= MAX_EVIDENCE
            and len(notes) <= MAX_EVIDENCE
            and type(self.description) is str
            and len(self.description) <= MAX_DESCRIPTION
            and (self.category is None or self.category in CATEGORIES)
            and type(self.urgent) is bool
            and type(self.scope_check) is bool
            and all(
                type(x) is Link
                and type(x.raw) is str
                and type(x.canonical) is str
                and type(x.platform) is str
                for x in links
            )
            and all(type(h) is str and len(h) <= MAX_TEXT for h in handles)
            and all(
                type(e) is Attachment
                and e.kind in EVIDENCE_KINDS
                and type(e.ref) is str
                and (e.fingerprint is None or type(e.fingerprint) is str)
                for e in evidence
            )
            and all(type(n) is str and len(n) <= MAX_DESCRIPTION for n in notes)
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReportDraft:
        links = [
            Link(str(x.get("raw", "")), str(x["canonical"]), str(x.get("platform", "web")))
            for x in data.get("links") or ()
            if isinstance(x, Mapping) and isinstance(x.get("canonical"), str)
        ]
        evidence = [
            Attachment(
                str(e["kind"]),
                str(e["ref"]),
                e["fingerprint"] if isinstance(e.get("fingerprint"), str) else None,
            )
            for e in data.get("evidence") or ()
            if isinstance(e, Mapping) and e.get("kind") in EVIDENCE_KINDS and isinstance(e.get("ref"), str)
        ]
        category = data.get("category")
        return cls(
            links=links[:MAX_LINKS],
            handles=strings(data.get("handles"), MAX_LINKS),
            evidence=evidence[:MAX_EVIDENCE],
            notes=strings(data.get("notes"), MAX_EVIDENCE, MAX_DESCRIPTION),
            description=str(data.get("description") or "")[:MAX_DESCRIPTION],
            category=category if category in CATEGORIES else None,
            urgent=bool(data.get("urgent")),
            scope_check=bool(data.get("scope_check")),
        )


@dataclass
class Submitted(Draft):
    """After the reference code: the report whose updates the next question is about."""

    kind = "submitted"
    V1_KEYS = frozenset({"report"})

    report: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "report": self.report}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Submitted:
        return cls(report=str(data.get("report") or ""))


def _draft(turn: Turn) -> ReportDraft:
    return turn.draft(ReportDraft)


def _links(turn: Turn) -> list[Link]:
    return _draft(turn).links


def _evidence(turn: Turn) -> list[Attachment]:
    return _draft(turn).evidence


def _handles(turn: Turn) -> list[str]:
    return _draft(turn).handles


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
    known = {link.canonical for link in links}
    added = 0
    for raw, canonical, platform in _found_links(turn, inbound):
        if canonical not in known and len(links) < MAX_LINKS:
            links.append(Link(raw, canonical, platform))
            known.add(canonical)
            added += 1
    handles = _handles(turn)
    app = _app_named(turn)
    for handle in turn.parse.values("handle"):
        named = f"{handle} ({app})" if app else handle
        if handle not in handles and named not in handles and len(handles) < MAX_LINKS:
            handles.append(named)
            added += 1
    return added


PLATFORMS = ("tiktok", "facebook", "instagram", "youtube", "telegram", "whatsapp", "x")


def _app_named(turn: Turn) -> str | None:
    """The app an @name was said to be on ("@jihadi_voice on tiktok"), by routing.yaml's platform words."""
    return words.choices(turn.catalog, "report.platforms", _platform_words).best(turn.parse.text)


def _platform_words(catalog: Catalog) -> dict[str, tuple[str, ...]]:
    return {name: catalog.phrases(f"platform_{name}") for name in PLATFORMS}


def _take_attachments(turn: Turn, inbound: Inbound) -> int:
    evidence = _evidence(turn)
    known = {(e.kind, e.ref) for e in evidence}
    added = 0
    for a in inbound.attachments:
        if (a.kind, a.ref) not in known and len(evidence) < MAX_EVIDENCE:
            evidence.append(Attachment(a.kind, a.ref, a.fingerprint))
            known.add((a.kind, a.ref))
            added += 1
    return added


def _refused(turn: Turn, inbound: Inbound) -> int:
    """How many of the message's attachments are not on the draft (it already holds MAX_EVIDENCE)."""
    kept = {(e.kind, e.ref) for e in _evidence(turn)}
    return len({(a.kind, a.ref) for a in inbound.attachments} - kept)


def _note(turn: Turn, inbound: Inbound) -> None:
    """Keep a caption's own words (its links and @names are taken apart) as a note to the description,
    and so the words typed around a link ("this page recruits boys https://..."): what the citizen saw,
    which an analyst needs, is never dropped for the link beside it."""
    pointed = any(e.entity in ("url", "handle") for e in turn.parse.entities)
    if not inbound.attachments and not pointed:
        return
    said = turn.parse.text
    for entity in sorted(turn.parse.entities, key=lambda e: e.start, reverse=True):
        if entity.entity in ("url", "handle") and 0 <= entity.start <= entity.end <= len(said):
            said = said[: entity.start] + said[entity.end :]
    said = " ".join(said.split())
    if turn.parse.intent.name in _SMALL_TALK and len(said.split()) <= 4:
        return  # "ok", "thanks": nothing to add to the description
    if not inbound.attachments and len(said.split()) < _WORDS_AROUND_LINK:
        return  # "report this", "see": a word or two beside a link says nothing of what was seen
    notes = _draft(turn).notes
    if any(c.isalnum() for c in said) and said not in notes and len(notes) < MAX_EVIDENCE:
        notes.append(said[:MAX_DESCRIPTION])


def _description(turn: Turn) -> str:
    """The description with the notes kept from captions, within MAX_DESCRIPTION."""
    draft = _draft(turn)
    parts = [draft.description.strip(), *draft.notes]
    return "\n".join(p for p in parts if p)[:MAX_DESCRIPTION]


def _take_evidence(turn: Turn, inbound: Inbound, note: bool = True) -> tuple[int, int]:
    """Keep the message's links, attachments and caption; (links and files added, files refused)."""
    added = _take_links(turn, inbound) + _take_attachments(turn, inbound)
    if note:
        _note(turn, inbound)
    return added, _refused(turn, inbound)


def _acknowledge(turn: Turn, inbound: Inbound, refused: int) -> None:
    """Say briefly what was kept (or that no more files fit); the question follows."""
    if refused:
        turn.say("report.evidence_full", limit=MAX_EVIDENCE)
    elif inbound.attachments:
        turn.say("report.evidence_kept", count=len(_evidence(turn)))
    else:
        turn.say("report.link_received", count=_where_count(turn))


def _button_named(turn: Turn, text: str) -> str | None:
    """The offered report button whose label, in any of our languages, is exactly `text` (a caption)."""
    folded = " ".join(text.split()).casefold()
    if not folded:
        return None
    for choice in turn.state.offered:
        if choice.startswith("nav:"):
            continue
        if choice.startswith("cat:"):
            key = f"categories.{choice[4:]}"
        else:
            key = "buttons." + choice.replace(":", "_").replace("-", "_")
        if turn.catalog.has(key) and folded in {turn.catalog.text(key, x).casefold() for x in LANGUAGES}:
            return choice
    return None


def _has_evidence(turn: Turn, inbound: Inbound) -> bool:
    return bool(inbound.attachments or _found_links(turn, inbound) or turn.parse.values("handle"))


def _on_evidence(turn: Turn, inbound: Inbound, text: str) -> None:
    """Evidence sent while a button question is open: kept and acknowledged, then the question again.

    The step moves only when the caption is exactly the label of one of the buttons on offer.
    """
    choice = _button_named(turn, text) if inbound.attachments else None
    _, refused = _take_evidence(turn, inbound, note=choice is None)
    _acknowledge(turn, inbound, refused)
    if choice is not None:
        on_choice(turn, choice)
    else:
        prompt(turn)


def start(turn: Turn, inbound: Inbound | None = None) -> None:
    """Begin a report; what the first message already answered is skipped. A report already being written
    goes on (with what this message brought); one set aside is offered back before a new one begins."""
    draft = turn.state.draft
    if isinstance(draft, ReportDraft) and draft.unfinished and turn.state.step in ASKS:
        _go_on(turn, inbound)
        return
    brings = inbound is not None and (
        _has_evidence(turn, inbound) or bool(inbound.text and turn.parse.urls())
    )
    if turn.state.paused and not brings:
        home.offer_resume(turn)
        return
    turn.goto(LINK)
    turn.state.draft = ReportDraft(urgent=turn.parse.intent.name == "emergency")
    found = _take_links(turn, inbound)
    if inbound is not None and inbound.attachments:
        _, refused = _take_evidence(turn, inbound)
        _acknowledge(turn, inbound, refused)
    elif found:
        if inbound is not None:
            _note(turn, inbound)  # "this page recruits boys https://...": the words are what was seen
        turn.say("report.link_received", count=_where_count(turn))
    if inbound is not None and _out_of_scope(turn, inbound.text or ""):
        _ask_scope(turn)
    else:
        _after_scope(turn)


def _go_on(turn: Turn, inbound: Inbound | None) -> None:
    """ "Report" said again mid-report: what the message brought is kept, and the report goes on."""
    if inbound is not None and _has_evidence(turn, inbound):
        _, refused = _take_evidence(turn, inbound, note=False)
        _acknowledge(turn, inbound, refused)
    if turn.state.step == LINK:
        _after_scope(turn)
    else:
        prompt(turn)


def _out_of_scope(turn: Turn, text: str) -> bool:
    """A report about opinion, politics or a blasphemy accusation, not yet past the scope notice."""
    return bool(text) and not _draft(turn).scope_check and turn.says(text, "scope")


def _ask_scope(turn: Turn) -> None:
    """What Raabta is for, and that an accusation can cost a life; the citizen may still go on."""
    turn.goto(SCOPE)
    turn.say("scope.notice", turn.button("scope:continue", "scope.button_continue"), *turn.nav())


def _after_scope(turn: Turn) -> None:
    """The next question the draft has not answered yet."""
    draft = _draft(turn)
    if draft.category:
        _after_category(turn)
    elif _points_somewhere(turn) or draft.description:
        _ask_category(turn)
    else:
        _ask_link(turn)


def _points_somewhere(turn: Turn) -> bool:
    """A link, an @name, a file, or where it was seen: something an analyst can look at."""
    draft = _draft(turn)
    return bool(_where_count(turn) or draft.evidence or draft.notes)


def _after_category(turn: Turn) -> None:
    """A threat asks whether anyone is in danger now; a report with nothing to look at asks what was seen;
    anything else is ready to send."""
    draft = _draft(turn)
    if draft.category == "violent_threat" and not draft.urgent:
        _ask_danger(turn)
    elif not _points_somewhere(turn) and not draft.description:
        _ask_description(turn)
    else:
        ask_confirm(turn)


def _after_danger(turn: Turn) -> None:
    """A report with nothing to look at still needs the words of what was seen; else the summary."""
    if not _points_somewhere(turn) and not _draft(turn).description:
        _ask_description(turn)
    else:
        ask_confirm(turn)


def _ask_link(turn: Turn) -> None:
    turn.goto(LINK)
    turn.say("report.ask_link", turn.button("link:none"), *turn.nav())


def _ask_where(turn: Turn) -> None:
    turn.goto(WHERE)
    turn.say("report.ask_where", turn.button("where:skip"), *turn.nav())


def _ask_category(turn: Turn) -> None:
    turn.goto(CATEGORY)
    buttons = [turn.button(f"cat:{c}", f"categories.{c}") for c in CATEGORIES]
    turn.say("report.ask_category", *buttons, *turn.nav())


def _ask_description(turn: Turn) -> None:
    turn.goto(DESCRIPTION)
    needs_words = not _points_somewhere(turn)
    if needs_words:
        turn.say("report.ask_description_required", *turn.nav())
    else:
        turn.say("report.ask_description", turn.button("desc:skip"), *turn.nav())


def _ask_danger(turn: Turn) -> None:
    if _draft(turn).urgent:
        ask_confirm(turn)
        return
    turn.goto(DANGER)
    turn.say("report.ask_danger", turn.button("danger:yes"), turn.button("danger:no"), *turn.nav())


def _ask_evidence(turn: Turn) -> None:
    turn.goto(EVIDENCE)
    turn.say("report.ask_evidence", turn.button("evidence:done"), *turn.nav())


def _summary(turn: Turn) -> str:
    draft = _draft(turn)
    where = [link.canonical for link in _links(turn)] + _handles(turn)
    lines = [turn.t("report.summary_title")]
    lines.append(turn.t("report.summary_where", where=", ".join(where) if where else turn.t("report.none")))
    lines.append(
        turn.t("report.summary_category", category=turn.t(f"categories.{draft.category or 'other'}"))
    )
    description = _description(turn)
    lines.append(turn.t("report.summary_description", description=description or turn.t("report.none")))
    lines.append(turn.t("report.summary_evidence", count=len(_evidence(turn))))
    if draft.urgent:
        lines.append(turn.t("report.summary_urgent"))
    lines.append(turn.t("report.summary_next"))
    return "\n".join(lines)


def ask_confirm(turn: Turn) -> None:
    turn.goto(CONFIRM)
    turn.say_text(_summary(turn), turn.button("confirm:submit"), turn.button("confirm:details"), *turn.nav())


def prompt(turn: Turn) -> None:
    """Ask again what the current report step asks."""
    ASKS.get(turn.state.step, _ask_link)(turn)


def _category_from_text(turn: Turn, text: str) -> str | None:
    """A kind of content typed: a button's label in any language, its number, or a synonym in a short
    message ("bharti", "dhamki", "chanda", "selling weapons")."""
    folded = " ".join(text.split()).casefold()
    for code in CATEGORIES:
        labels = {turn.catalog.text(f"categories.{code}", lang).casefold() for lang in LANGUAGES}
        if folded in labels or folded == code:
            return code
    if folded.isdecimal() and folded.isascii() and 1 <= int(folded) <= len(CATEGORIES):
        return CATEGORIES[int(folded) - 1]
    if len(folded.split()) > _ASIDE_WORDS:
        return None
    return words.choices(turn.catalog, "report.categories", _category_words).best(text)


def _category_words(catalog: Catalog) -> dict[str, tuple[str, ...]]:
    return {code: catalog.phrases(f"category_{code}") for code in CATEGORIES}


def _submit(turn: Turn) -> None:
    if not turn.context.may_report:
        turn.say("report.quota", turn.button("confirm:submit"), *turn.nav())
        return
    draft = _draft(turn)
    code = turn.context.new_code
    first = _links(turn)[:1]
    known = any(link.canonical in turn.context.known_links for link in first)
    turn.effects.append(
        SubmitReport(
            code=code,
            category=draft.category or "other",
            description=_description(turn),
            urgent=draft.urgent,
            language=turn.lang,
            links=tuple(draft.links),
            evidence=tuple(draft.evidence),
            handles=tuple(draft.handles),
            scope_check=draft.scope_check,
        )
    )
    turn.state.draft = Submitted(code)  # the report the updates question is about
    turn.state.history = []
    turn.state.step = UPDATES
    turn.say("report.done", code=code)
    if known:
        turn.say("report.already_known")
    ask_updates(turn)


def ask_updates(turn: Turn) -> None:
    """After the reference code: would the citizen like updates here?"""
    turn.say("report.ask_updates", turn.button("updates:yes"), turn.button("updates:no"))


def on_updates(turn: Turn, wanted: bool) -> None:
    """The answer to "would you like updates here?": only a yes keeps a way to reach the citizen."""
    draft = turn.state.draft
    code = draft.report if isinstance(draft, Submitted) and draft.report else None
    if wanted:
        turn.effects.append(KeepContact(reports=(code,) if code else ()))
    turn.state.draft = None
    turn.rest()
    turn.say("report.updates_on" if wanted else "report.updates_off", *turn.menu_buttons())


def on_choice(turn: Turn, choice: str) -> None:
    step = turn.state.step
    draft = _draft(turn)
    if step == LINK and choice == "link:none":
        _ask_where(turn)
    elif step == WHERE and choice == "where:skip":
        _ask_category(turn)
    elif step == CATEGORY and choice.startswith("cat:") and choice[4:] in CATEGORIES:
        draft.category = choice[4:]
        _after_category(turn)
    elif step == DESCRIPTION and choice == "desc:skip":
        _ask_evidence(turn)
    elif step == DANGER and choice in ("danger:yes", "danger:no"):
        if choice == "danger:yes":
            draft.urgent = True
            _emergency_noted(turn)
        _after_danger(turn)
    elif step == EVIDENCE and choice == "evidence:done":
        ask_confirm(turn)
    elif step == CONFIRM and choice == "confirm:submit":
        _submit(turn)
    elif step == CONFIRM and choice == "confirm:details":
        _ask_description(turn)
    elif step == SCOPE and choice == "scope:continue":
        draft.scope_check = True
        if turn.state.history[-1:] == [DESCRIPTION]:  # adding details: the screenshots question next
            _ask_evidence(turn)
        else:
            _after_scope(turn)
    else:
        turn.say("common.stale_button")
        prompt(turn)


def on_text(turn: Turn, inbound: Inbound, text: str) -> bool:
    """A typed answer (or attachment) at a report step. Nothing the citizen sends is dropped silently."""
    step = turn.state.step
    draft = _draft(turn)
    intent = turn.parse.intent.name
    if not inbound.attachments and _aside(turn, text):
        return True
    if step == LINK:
        _on_link(turn, inbound, text)
    elif step == WHERE:
        _on_where(turn, inbound, text)
    elif step in (CATEGORY, DANGER, CONFIRM) and _has_evidence(turn, inbound):
        _on_evidence(turn, inbound, text)
    elif step == CATEGORY:
        code = _category_from_text(turn, text)
        if code is not None:
            draft.category = code
            _after_category(turn)
        elif len(text.split()) >= _WORDS_KEPT and not draft.description:
            draft.description = text.strip()[:MAX_DESCRIPTION]  # what was seen, typed here: kept
            turn.say("report.words_kept_category")
            _ask_category(turn)
        else:
            turn.say("report.choose_category")
            _ask_category(turn)
    elif step == DESCRIPTION:
        _on_description(turn, inbound, text)
    elif step == SCOPE:
        _on_scope_text(turn, inbound, text)
    elif step == DANGER:
        _on_danger_text(turn, text)
    elif step == EVIDENCE:
        _on_more_evidence(turn, inbound, text)
    elif step == CONFIRM:
        if turn.yes_or_no(text) and turn.parse.intent.confidence >= SURE_TO_SEND:
            _submit(turn)
        elif len(text.split()) >= 2 and intent not in _SMALL_TALK:  # more of what was seen: kept
            draft.description = (draft.description + "\n" + text.strip()).strip()[:MAX_DESCRIPTION]
            if _out_of_scope(turn, text):
                _ask_scope(turn)
                return True
            turn.say("report.note_added_summary")
            ask_confirm(turn)
        else:
            turn.say("report.confirm_hint")
            ask_confirm(turn)
    return True


def _on_danger_text(turn: Turn, text: str) -> None:
    """Yes or no; or what was seen, typed here (right after choosing "threat" is where people say it):
    kept as the description, and the question asked again unless the words already made it urgent."""
    answer = turn.yes_or_no(text)
    draft = _draft(turn)
    if answer is not None:
        on_choice(turn, "danger:yes" if answer else "danger:no")
    elif len(text.split()) >= 2 and len(text) <= MAX_DESCRIPTION:
        draft.description = (draft.description + "\n" + text.strip()).strip()[:MAX_DESCRIPTION]
        if draft.urgent:  # the words were a danger to life: directions given, the report is urgent
            _after_danger(turn)
        else:
            turn.say("report.words_kept_category")
            _ask_danger(turn)
    else:
        turn.say("report.answer_yes_no")
        _ask_danger(turn)


def _on_link(turn: Turn, inbound: Inbound, text: str) -> None:
    """A link, an @name or a file goes on to the kind of content; words describing the page are kept as
    the description and the link asked for again."""
    links = _take_links(turn, inbound)
    draft = _draft(turn)
    if inbound.attachments:
        _, refused = _take_evidence(turn, inbound)
        _acknowledge(turn, inbound, refused)
        _after_scope(turn)
    elif links:
        turn.say("report.link_received", count=_where_count(turn))
        _after_scope(turn)
    elif turn.sure("thanks", "greet") and len(text.split()) <= _KIND_WORDS:
        # "thanks", "shukriya", "salam": a kind word while the link is awaited, answered as one (not as
        # a link that failed, nor kept as the description), with the link asked for again in brief
        turn.say(f"report.link_{turn.parse.intent.name}", turn.button("link:none"), *turn.nav())
    elif len(text.split()) >= _WORDS_KEPT and len(text) <= MAX_DESCRIPTION:
        draft.description = (draft.description + "\n" + text.strip()).strip()[:MAX_DESCRIPTION]
        if _out_of_scope(turn, text):
            _ask_scope(turn)
            return
        turn.say("report.words_kept_link")
        _ask_link(turn)
    else:
        turn.say("report.no_link_found")
        _ask_link(turn)


def _on_where(turn: Turn, inbound: Inbound, text: str) -> None:
    """Where it was seen, without a link: a group's name, an @name with its app, an admin's number. Kept
    as written (the analysts read it), with links, @names and files taken out as evidence."""
    added, refused = _take_evidence(turn, inbound, note=False)
    notes = _draft(turn).notes
    said = " ".join(text.split())
    rest = _without_entities(turn, said)
    only_names = added > 0 and len(rest.split()) <= 2  # "@name on tiktok": kept as the @name (tiktok)
    if any(c.isalnum() for c in said) and not only_names and said not in notes and len(notes) < MAX_EVIDENCE:
        notes.append(said[:MAX_DESCRIPTION])
    if refused:
        _acknowledge(turn, inbound, refused)
    elif inbound.attachments:
        turn.say("report.evidence_kept", count=len(_evidence(turn)))
    elif said:
        turn.say("report.where_kept")
    if _points_somewhere(turn):
        _ask_category(turn)
    else:
        _ask_where(turn)


def _without_entities(turn: Turn, text: str) -> str:
    """The words of `text` around its links and @names."""
    return _without_codes(turn, text, ("url", "handle"))


def _without_codes(turn: Turn, text: str, kinds: tuple[str, ...] = ("reference",)) -> str:
    """The words of `text` around its reference codes ("AW Y0 - 9QHY" is one code, not four words)."""
    spans = [(e.start, e.end) for e in turn.parse.entities if e.entity in kinds]
    for start, end in sorted(spans, reverse=True):
        if 0 <= start <= end <= len(text):
            text = text[:start] + " " + text[end:]
    return text


def _aside(turn: Turn, text: str) -> bool:
    """Help, or a reference code's status, asked mid-report in a few words: answered, and the same
    question asked again with the draft as it was."""
    codes = turn.parse.values("reference")
    if len(_without_codes(turn, text).split()) + bool(codes) > _ASIDE_WORDS:
        return False
    if turn.parse.intent.name == "check_status" or (codes and turn.parse.intent.name != "report_content"):
        code = codes[0] if codes else parse_code(text)
        told = turn.context.reports.get(code) if code else None
        if code is None:
            return False
        if told is None:
            turn.say("status.not_found", code=code)
        else:
            turn.say_text(status_text(turn.catalog, turn.lang, code, told))
        prompt(turn)
        return True
    if turn.parse.intent.name == "help" and turn.parse.intent.confidence >= CONFIDENT:
        turn.say("report.step_help")
        prompt(turn)
        return True
    return False


def _on_scope_text(turn: Turn, inbound: Inbound, text: str) -> None:
    """At the scope notice: yes goes on (marked for a scope check), no cancels, evidence is kept."""
    intent = turn.parse.intent.name
    if _has_evidence(turn, inbound):
        _, refused = _take_evidence(turn, inbound)
        _acknowledge(turn, inbound, refused)
        _ask_scope(turn)
    elif intent == "affirm":
        on_choice(turn, "scope:continue")
    elif intent == "deny":
        home.drop(turn, "common.cancelled_report")
    else:
        _ask_scope(turn)


def keep_threat(turn: Turn, inbound: Inbound, text: str) -> bool:
    """A danger to life said outside a report, after the emergency directions: an urgent report draft that
    keeps the words, links and files sent, so the citizen only checks and sends it (Back: the category)."""
    turn.rest()
    turn.state.draft = None
    turn.goto(CATEGORY)
    turn.state.draft = ReportDraft(urgent=True, category="violent_threat")
    _take_links(turn, inbound)
    _take_attachments(turn, inbound)
    _draft(turn).description = text.strip()[:MAX_DESCRIPTION]
    turn.say("emergency.kept")
    ask_confirm(turn)
    return True


def _on_description(turn: Turn, inbound: Inbound, text: str) -> None:
    """Words describe what was seen; a screenshot without words is kept and the question asked again."""
    if inbound.attachments:
        skip = _button_named(turn, text)
        said = text.strip() if skip is None and len(text) <= MAX_DESCRIPTION else ""
        _, refused = _take_evidence(turn, inbound, note=False)
        _acknowledge(turn, inbound, refused)
        if skip is not None:
            on_choice(turn, skip)
        elif said:
            _draft(turn).description = said
            _ask_evidence(turn)
        elif text.strip():
            turn.say("report.description_too_long", limit=MAX_DESCRIPTION)
            _ask_description(turn)
        else:
            _ask_description(turn)
        return
    if len(text) > MAX_DESCRIPTION:
        _take_links(turn, inbound)
        turn.say("report.description_too_long", limit=MAX_DESCRIPTION)
        _ask_description(turn)
        return
    links = _take_links(turn, inbound)
    if not text.strip():  # a forwarded post's link is evidence, not a description
        if links:
            turn.say("report.link_received", count=_where_count(turn))
        _ask_description(turn)
        return
    _draft(turn).description = text.strip()
    if _out_of_scope(turn, text):
        _ask_scope(turn)
    else:
        _ask_evidence(turn)


def _on_more_evidence(turn: Turn, inbound: Inbound, text: str) -> None:
    """The evidence step: files and links are added, words become a note, "done" goes to the summary."""
    buttons = [turn.button("evidence:done"), *turn.nav()]
    draft = _draft(turn)
    added, refused = _take_evidence(turn, inbound)
    if refused:
        turn.say("report.evidence_full", *buttons, limit=MAX_EVIDENCE)
    elif added:
        turn.say("report.evidence_added", *buttons, count=added)
    elif inbound.attachments or inbound.links:  # sent before: already kept
        turn.say("report.evidence_kept", *buttons, count=len(_evidence(turn)))
    elif turn.parse.intent.name in _DONE_INTENTS or not text.strip():
        ask_confirm(turn)
    else:
        draft.description = (draft.description + "\n" + text.strip()).strip()[:MAX_DESCRIPTION]
        turn.say("report.note_added", *buttons)


ASKS = {
    LINK: _ask_link,
    WHERE: _ask_where,
    CATEGORY: _ask_category,
    DESCRIPTION: _ask_description,
    DANGER: _ask_danger,
    EVIDENCE: _ask_evidence,
    CONFIRM: ask_confirm,
    SCOPE: _ask_scope,
}


def _emergency_noted(turn: Turn) -> None:
    home.emergency(turn, offer_buttons=False)
    turn.say("report.marked_urgent")


def _on_emergency(turn: Turn, inbound: Inbound, text: str) -> bool:
    """A danger to life described inside a report: directions at once, the report marked urgent and the
    message still taken as the answer to the question asked."""
    _draft(turn).urgent = True
    _emergency_noted(turn)
    return on_text(turn, inbound, text)


def _on_updates_text(turn: Turn, inbound: Inbound, text: str) -> bool:
    """A typed yes or no to "updates here?"; anything else goes on to the routes."""
    answer = turn.yes_or_no(text)
    if answer is not None:
        on_updates(turn, answer)
    return answer is not None


def needs(state: State, parse: Parse, inbound: Inbound) -> Needs:
    """At the confirmation: the citizen's report quota, whether the first link has a case, a new code.

    The confirmation is the one step that submits: the reference code (Needs.code) is drawn for it alone."""
    if state.step != CONFIRM:
        return NOTHING
    draft = state.draft
    first = draft.links[0].canonical if isinstance(draft, ReportDraft) and draft.links else None
    return Needs(links=(first,) if first else (), quota=True, code=True)


def _open(turn: Turn, inbound: Inbound | None) -> None:
    start(turn, inbound)


def _has_something(turn: Turn, inbound: Inbound, text: str) -> bool:
    """A screenshot, a forward, or a link or @name typed with no reference code: whatever the words around
    it, that is a report to start (a code with it is a status check, answered first)."""
    typed = bool(turn.parse.urls() or turn.parse.values("handle"))
    return bool(inbound.attachments or inbound.links) or (typed and not turn.parse.values("reference"))


def _says_report(turn: Turn, inbound: Inbound, text: str) -> bool:
    """ "report", "i need to report", "mujhe report karni hai", "shikayat krni h": a short message whose
    subject is reporting, whatever the classifier made of it."""
    return len(text.split()) <= _ASIDE_WORDS + 2 and turn.says(text, "report_words")


FLOW = Flow(
    name="report",
    doc="A report in three taps (link, kind, Send), details optional; the reference code, then updates.",
    steps={
        **{
            name: Step(
                prompt=ask,
                on_choice=on_choice,
                on_text=on_text,
                asks=True,
                content=True,
                cancelled="common.cancelled_report",
            )
            for name, ask in ASKS.items()
        },
        UPDATES: Step(prompt=ask_updates, on_text=_on_updates_text),
    },
    choices=("updates:",),
    on_choice=lambda turn, choice: on_updates(turn, choice == "updates:yes"),
    menu="report",
    open=_open,
    commands=(
        Command(
            "report",
            lambda t, i, r: start(t, i),
            10,
            "buttons.menu_report",
            "MENU_REPORT",
            "messenger.menu_report",
        ),
    ),
    routes=(
        Route(30, lambda t, i, x: start(t, i), when=_has_something, note="a link, screenshot or forward"),
        Route(50, lambda t, i, x: start(t, i), intents=frozenset({"report_content"}), note="wants to report"),
        Route(52, lambda t, i, x: start(t, i), when=_says_report, note="a few words about reporting"),
    ),
    needs=needs,
    on_emergency=_on_emergency,
    emergency_floor=0.6,
    on_threat=keep_threat,
    draft=ReportDraft,
)
