"""The tables, in SQLAlchemy Core. Alembic migrations create them; a test checks the two agree."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# A reporter is a keyed pseudonym (HMAC of channel and user id), never the id itself.
reporters = Table(
    "reporters",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# The address needed to notify a reporter, encrypted; deleted by "forget me" or after retention.
contacts = Table(
    "contacts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("reporter_id", String(64), ForeignKey("reporters.id", ondelete="CASCADE"), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("address", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("unreachable_at", DateTime(timezone=True)),
    UniqueConstraint("reporter_id", "channel"),
)

conversations = Table(
    "conversations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("channel", String(16), nullable=False),
    Column("state", JSON, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# The web chat's transcript: a row a turn, its messages as JSON lines (bot.shared.transcript), keyed by the
# conversation's version after the turn. A turn adds its row and deletes the one KEEP_TURNS back, so a
# turn writes only its own messages, not the conversation's last thirty again (migration 0022, issue 23).
# Deleted with the conversation (forget-me, retention) by the cascade.
transcript_turns = Table(
    "transcript_turns",
    metadata,
    Column(
        "conversation_id", String(64), ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("messages", Text, nullable=False),
    sqlite_with_rowid=False,
)

cases = Table(
    "cases",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("canonical_url", String(2048), unique=True),
    Column("fingerprint", String(80), unique=True),
    Column("platform", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("urgent", Boolean, nullable=False),
    Column("priority", Float, nullable=False),
    Column("categories", JSON, nullable=False),
    Column("report_count", Integer, nullable=False),
    Column("reporter_count", Integer, nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("assignee", String(64)),
    Column("lease_until", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("needs_care", Boolean, nullable=False, server_default=false()),
    Column("care_reason", String(200)),
    Column("agency", String(32)),
    Column("merged_into", Integer),
    Column("decided_at", DateTime(timezone=True)),
    # What analysts read for a case without a link: the handle, or the first words of the description.
    Column("title", String(200)),
    # The parts `priority` is the sum of (storage.priority.parts), as they were when it was computed.
    Column("priority_parts", JSON),
    # report_count when the case was claimed or assigned: a decision on fewer reports than the case now
    # has is refused, so a report that raced the decision is never swallowed by it.
    Column("claimed_reports", Integer),
    # When the case was first referred or escalated (shared with partners); its STIX indicator's `created`.
    Column("shared_at", DateTime(timezone=True)),
    # When the case was last claimed or assigned: a reporter is told "under review since" this date.
    Column("claimed_at", DateTime(timezone=True)),
    # Why it was decided (storage.lifecycle.REASONS), as every reporter of the case is told it.
    Column("reason", String(32)),
    # One of its reports carries the scope check mark (reports.scope_check); never cleared, merges carry
    # it (migration 0012 says why it is kept here rather than derived).
    Column("scope_check", Boolean, nullable=False, server_default=false()),
    # The designated (proscribed) organisations its reports name on it (storage.cases.refresh gathers them
    # from reports.designated): [{name, source, date, aliases, found_in}]; null when none.
    Column("designated", JSON),
    Index("ix_cases_status_priority", "status", "priority"),
    Index("ix_cases_lease", "status", "lease_until"),
)
# The claim order (storage.queue.ORDER) after `status = 'new'`: a claim reads the first unlocked rows of
# this index instead of sorting every open case; ix_cases_lease finds expired leases the same way.
Index(
    "ix_cases_claim",
    cases.c.status,
    cases.c.urgent.desc(),
    cases.c.priority.desc(),
    cases.c.first_seen,
    cases.c.id,
)

reports = Table(
    "reports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("code", String(9), nullable=False, unique=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False, index=True),
    Column("reporter_id", String(64), ForeignKey("reporters.id", ondelete="SET NULL"), index=True),
    Column("channel", String(16), nullable=False),
    Column("language", String(8), nullable=False),
    Column("category", String(24), nullable=False),
    Column("description", Text, nullable=False),
    Column("urgent", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Consent is per report: only a "yes" to updates for this report lets a decision notify its reporter.
    Column("updates", Boolean, nullable=False, server_default=false()),
    # The reporter-facing status last sent to the reporter; a notification goes only when it changes.
    Column("notified_status", String(16)),
    # The citizen went on past the scope notice: the report is about opinion, criticism of the state or
    # army, sectarian disagreement or a blasphemy accusation, and they believe it incites violence.
    Column("scope_check", Boolean, nullable=False, server_default=false()),
    # The designated (proscribed) organisations it names (storage.records.DesignatedMatch, as the list gave
    # them when it came in): [{name, source, date, alias, in, link}]; `link` names the link whose slug it
    # was, which belongs to that link's case only (storage.cases.designations). Null when none.
    Column("designated", JSON),
)

# Every case a report is on: one per link (the first is reports.case_id), all under one reference code.
case_reports = Table(
    "case_reports",
    metadata,
    Column("case_id", Integer, ForeignKey("cases.id"), primary_key=True),
    Column("report_id", Integer, ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True, index=True),
)

# The account names a case is known by, for search (storage.search): the account of its link (t.me/NAME,
# x.com/NAME/status/1) and the @handles its reports name, lower case without the @. The words of
# descriptions are indexed in `report_text`, which is not here: FTS5 and tsvector are not portable.
case_handles = Table(
    "case_handles",
    metadata,
    Column("handle", String(100), primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id"), primary_key=True),
)

evidence = Table(
    "evidence",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("report_id", Integer, ForeignKey("reports.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # link | handle | photo | document | forward
    Column("value", Text, nullable=False),  # canonical url, @handle, file id, or forwarded text
    Column("raw", Text),  # the link as the citizen wrote it
    Column("platform", String(16)),
    Column("fingerprint", String(128), index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sha256", String(64)),  # of a downloaded photo or document; kept after the copy is purged
    # The follow-up question (followups.id) this evidence answered, when a reporter sent it as an answer
    # (storage.followups): the text itself is kind `answer`, links and files keep their own kinds.
    Column("followup_id", Integer, index=True),
)

# Copies of evidence files kept under `<data_dir>/evidence/<channel>/<name>` (name: the evidence
# fingerprint, Telegram's file_unique_id). The retention purge deletes the copy (a screenshot may show
# people) and sets purged_at; the row and its sha256 stay, so the evidence still names the exact file.
evidence_files = Table(
    "evidence_files",
    metadata,
    Column("channel", String(16), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("stored_at", DateTime(timezone=True), nullable=False, index=True),
    Column("purged_at", DateTime(timezone=True)),
)

processed_events = Table(
    "processed_events",
    metadata,
    Column("channel", String(16), primary_key=True),
    Column("event_id", String(128), primary_key=True),
    Column("response", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    # When a channel sent the event's replies (Telegram: a redelivery seen by another instance waits for
    # this rather than sending them twice; see migration 0014)
    Column("replied_at", DateTime(timezone=True)),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", String(16), nullable=False),  # pending | sent | failed | expired
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    Column("error", String(200)),
    # What a status message is about ("report:K7QM-2XD9"), so it can be withdrawn while still undelivered
    # when it stops being true (the case was reopened).
    Column("subject", String(32), index=True),
    Column("says", String(16)),  # the reporter-facing status a status message tells
    Index("ix_outbox_pending", "status", "channel", "conversation_id"),
)

# Append-only; each row's hash covers the previous row's hash, so an edit breaks the chain.
audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(48), nullable=False),
    Column("subject", String(64), nullable=False),
    Column("detail", JSON, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
)

# Analysts' bearer tokens, stored as SHA-256 of the token (the token itself is shown once).
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)

case_notes = Table(
    "case_notes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False, index=True),
    Column("author", String(64), nullable=False),
    Column("note", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

# Takedown notices sent about a referred or escalated case (storage.takedowns): to whom, under which of
# responses/notices.yaml's templates, when (an analyst may record a notice sent earlier), and the
# reference the platform or agency gave it, if any. Nothing about reporters.
referrals = Table(
    "referrals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False, index=True),
    Column("agency", String(32), nullable=False),
    Column("reference", String(100)),
    Column("template", String(32), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=False),
    Column("by", String(64), nullable=False),
)

# What an analyst found when they looked again at a referred page: still_online, removed or geo_blocked.
# The first `removed` ends the case's takedown clock (time to removal); a later check can restart it.
takedown_checks = Table(
    "takedown_checks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False, index=True),
    Column("result", String(16), nullable=False),
    Column("checked_at", DateTime(timezone=True), nullable=False),
    Column("by", String(64), nullable=False),
    Column("note", String(500)),
)

# A family's request for a counsellor's callback; its own queue, seen by counsellors only.
support_requests = Table(
    "support_requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("code", String(9), nullable=False, unique=True),
    Column("language", String(8), nullable=False),
    Column("topic", String(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("phone", LargeBinary),  # sealed; optional
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("handled_by", String(64)),
    Column("handled_at", DateTime(timezone=True)),
    # Where a counsellor may write back when no phone was given; cleared by "forget me".
    Column("conversation_id", String(64), index=True),
    Column("channel", String(16)),
)

# Opt-in weekly digest, one row per conversation, channel and language; deleted by "forget me".
subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("language", String(8), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_week", String(8)),  # the ISO week ("2026-W03") of the last digest queued
    UniqueConstraint("conversation_id", "channel", "language"),
)

# Citizens blocked after repeated floods (by pseudonym); an admin lifts a block.
blocks = Table(
    "blocks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("reporter_id", String(64), nullable=False, index=True),
    Column("reason", String(200), nullable=False),
    Column("blocked_at", DateTime(timezone=True), nullable=False),
    Column("lifted_at", DateTime(timezone=True)),
    Column("lifted_by", String(64)),
)

# An analyst's question to the reporters of a case who asked for updates (storage.followups). Only counts:
# who was asked, or who answered, is never kept here (the answers are evidence on their reports).
followups = Table(
    "followups",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False, index=True),
    Column("question", Text, nullable=False),
    Column("asked_by", String(64), nullable=False),
    Column("asked_at", DateTime(timezone=True), nullable=False),
    Column("recipients", Integer, nullable=False),  # reporters it was queued to
    Column("answered", Integer, nullable=False, server_default="0"),
    Column("skipped", Integer, nullable=False, server_default="0"),
)

# A question waiting for one reporter's next message, by report and never by pseudonym (the outbox row
# that delivers it names the chat, as every notification does). Live once that row was delivered; deleted
# by the reporter's next message (answered, skipped or passed by), by forget-me, or once it is too old.
followup_pending = Table(
    "followup_pending",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("followup_id", Integer, ForeignKey("followups.id", ondelete="CASCADE"), nullable=False),
    Column("report_id", Integer, ForeignKey("reports.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("outbox_id", Integer),
    Column("asked_at", DateTime(timezone=True), nullable=False, index=True),
    UniqueConstraint("followup_id", "report_id"),
)

# How often each claim of responses/claims.yaml was asked about, a day (in Pakistan) and a language: counts
# only (storage/claim_asks.py). No pseudonym, no conversation: forget-me has nothing here to delete.
claim_asks = Table(
    "claim_asks",
    metadata,
    Column("day", Date, primary_key=True),
    Column("claim", Text, primary_key=True),
    Column("language", Text, primary_key=True),
    Column("count", Integer, nullable=False),
)
