"""audit_events: chain with HMAC-SHA256 keyed from the secret instead of plain SHA-256

The chain so far was plain SHA-256, which anyone can recompute. This revision re-keys it, once: it first
checks the plain chain from the first event to the last, and only when every link and hash holds rewrites
`prev_hash` and `hash` of every event with the audit key (`storage.migrate.upgrade` hands the key in through
`config.attributes["audit_key"]`). A chain already broken is left as it is, so `raabta audit verify` names
where it was broken instead of a re-keying hiding it.

Revision ID: 0009
Revises: 0008
"""

import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from functools import partial
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from storage.audit import GENESIS, chain_hash, plain_hash
from storage.engine import AUDIT_KEY

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")
PAGE = 1000
_LOCK = 7_201_001  # storage.audit's advisory lock: no append interleaves with the re-keying

events = sa.table(
    "audit_events",
    sa.column("id", sa.Integer()),
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("actor", sa.String()),
    sa.column("action", sa.String()),
    sa.column("subject", sa.String()),
    sa.column("detail", sa.JSON()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)


Hasher = Callable[[str, datetime, str, str, str, Any], str]


def _pages(bind: sa.Connection) -> Iterator[Sequence[sa.Row[Any]]]:
    """Every event in id order, a page at a time (each page is read whole before it is rewritten)."""
    after = 0
    while page := bind.execute(
        sa.select(events).where(events.c.id > after).order_by(events.c.id).limit(PAGE)
    ).all():
        yield page
        after = page[-1].id


def first_broken(bind: sa.Connection, hasher: Hasher) -> int | None:
    """The first event whose link or hash (made by `hasher`) is wrong, or None when the chain holds."""
    prev = GENESIS
    for page in _pages(bind):
        for row in page:
            if row.prev_hash != prev or row.hash != hasher(
                prev, row.at, row.actor, row.action, row.subject, row.detail
            ):
                return int(row.id)
            prev = row.hash
    return None


def rechain(bind: sa.Connection, hasher: Hasher) -> int:
    """Rewrite every event's link and hash with `hasher`, in id order; returns how many."""
    change = (
        sa.update(events)
        .where(events.c.id == sa.bindparam("event_id"))
        .values(prev_hash=sa.bindparam("new_prev"), hash=sa.bindparam("new_hash"))
    )
    prev, done = GENESIS, 0
    for page in _pages(bind):
        updates = []
        for row in page:
            digest = hasher(prev, row.at, row.actor, row.action, row.subject, row.detail)
            updates.append({"event_id": row.id, "new_prev": prev, "new_hash": digest})
            prev = digest
        bind.execute(change, updates)
        done += len(updates)
    return done


def _convert(old: Hasher, new: Hasher, name: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.execute(sa.text(f"SELECT pg_advisory_xact_lock({_LOCK})"))
    broken = first_broken(bind, old)
    if broken is not None:
        log.warning("audit chain broken at event %s: left as it is, for `raabta audit verify`", broken)
        return
    log.info("audit chain %s: %s events", name, rechain(bind, new))


def _key() -> bytes:
    key = context.config.attributes.get("audit_key") or op.get_bind().get_execution_options().get(AUDIT_KEY)
    if not isinstance(key, bytes):
        raise RuntimeError(
            "migration 0009 re-keys the audit chain and needs its key: run `raabta db upgrade`"
        )
    return key


def upgrade() -> None:
    _convert(plain_hash, partial(chain_hash, _key()), "re-keyed")


def downgrade() -> None:
    # Back to the public SHA-256 (only when the keyed chain holds), which 0008's code verifies.
    _convert(partial(chain_hash, _key()), plain_hash, "back to plain SHA-256")
