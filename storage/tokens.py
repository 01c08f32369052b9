"""Tokens for the analysts' side and for partners. Only a SHA-256 of each token is stored; the token is shown
once.

A token's role says which door it opens: analysts, supervisors, counsellors and admins the API, the console
and the CLI (each route checks the role); `partner` only the TAXII feed (/taxii2/, cyberunit.taxii), which no
other role opens.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from storage import audit
from storage.repository import Storage, utcnow
from storage.schema import api_tokens

PARTNER = "partner"  # a partner agency pulling the TAXII feed: nothing else
ROLES = ("analyst", "supervisor", "counsellor", "admin", PARTNER)
PREFIX = "rbt_"


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: str


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenError(ValueError):
    pass


class Tokens:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    async def create(self, name: str, role: str, actor: str = "cli") -> str:
        """A new token for `name` with `role`; returns the token itself (shown once)."""
        name = name.strip()
        if role not in ROLES:
            raise TokenError(f"role must be one of {', '.join(ROLES)}")
        if not name or len(name) > 64 or not all(ch.isalnum() or ch in "._-@" for ch in name):
            raise TokenError("name must be 1 to 64 letters, digits or . _ - @")
        token = PREFIX + secrets.token_urlsafe(32)
        now = utcnow()
        try:
            async with self.storage.db.transaction() as conn:
                await conn.execute(
                    api_tokens.insert().values(name=name, role=role, token_hash=digest(token), created_at=now)
                )
                await audit.append(conn, now, actor, "token.created", f"token:{name}", {"role": role})
        except IntegrityError as exc:
            raise TokenError(f"a token named {name!r} exists already") from exc
        return token

    async def verify(self, token: str) -> Principal | None:
        if not token.startswith(PREFIX) or len(token) > 100:
            return None
        async with self.storage.db.read() as conn:
            row = (
                await conn.execute(
                    select(api_tokens.c.name, api_tokens.c.role).where(
                        api_tokens.c.token_hash == digest(token), api_tokens.c.revoked_at.is_(None)
                    )
                )
            ).first()
        return Principal(row.name, row.role) if row else None

    async def holder(self, name: str) -> Principal | None:
        """The active (not revoked) token named `name`, as who holds it; None when there is none."""
        if not name or len(name) > 64:
            return None
        async with self.storage.db.read() as conn:
            row = (
                await conn.execute(
                    select(api_tokens.c.name, api_tokens.c.role).where(
                        api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None)
                    )
                )
            ).first()
        return Principal(row.name, row.role) if row else None

    async def revoke(self, name: str, actor: str = "cli") -> bool:
        now = utcnow()
        async with self.storage.db.transaction() as conn:
            result = await conn.execute(
                update(api_tokens)
                .where(api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=now)
                .returning(api_tokens.c.id)
            )
            done = result.first() is not None
            if done:
                await audit.append(conn, now, actor, "token.revoked", f"token:{name}", {})
        return done

    async def list(self) -> list[dict[str, Any]]:
        async with self.storage.db.read() as conn:
            rows = (
                await conn.execute(
                    select(
                        api_tokens.c.name, api_tokens.c.role, api_tokens.c.created_at, api_tokens.c.revoked_at
                    ).order_by(api_tokens.c.id)
                )
            ).all()
        return [
            {
                "name": r.name,
                "role": r.role,
                "created_at": audit.as_utc(r.created_at).isoformat(),
                "revoked": r.revoked_at is not None,
            }
            for r in rows
        ]
