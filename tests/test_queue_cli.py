"""`raabta token|queue|export|audit` as an operator runs them, on both backends."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
from pathlib import Path

import stix2
from sqlalchemy import update

from storage.repository import Storage
from storage.schema import audit_events
from tests.test_api import add_report
from tests.test_cli import RAABTA, env_for


async def raabta(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run, [*RAABTA, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


async def test_tokens_queue_export_and_audit_from_the_command_line(
    tmp_path: Path, db_url: str, storage: Storage
) -> None:
    env = env_for(tmp_path, RAABTA_DATABASE_URL=db_url)
    created = await raabta(env, "token", "create", "--name", "ayesha", "--role", "analyst")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("rbt_")
    duplicate = await raabta(env, "token", "create", "--name", "ayesha", "--role", "analyst")
    assert duplicate.returncode == 1 and "exists already" in duplicate.stderr
    listed = await raabta(env, "token", "list")
    assert "ayesha" in listed.stdout and token not in listed.stdout

    for url in ("https://t.me/one", "https://t.me/two"):
        await add_report(storage, url)
    queue = await raabta(env, "queue", "list")
    assert "https://t.me/one" in queue.stdout and "https://t.me/two" in queue.stdout
    claimed = await raabta(env, "queue", "claim", "--as", "ayesha")
    case_id = claimed.stdout.splitlines()[1].split()[0]
    shown = json.loads((await raabta(env, "queue", "show", case_id)).stdout)
    assert shown["status"] == "in_review" and shown["assignee"] == "ayesha"
    wrong = await raabta(
        env, "queue", "decide", case_id, "--as", "someone", "--status", "no_action", "--note", "x"
    )
    assert wrong.returncode == 1 and "not held by you" in wrong.stderr
    decided = await raabta(
        env, "queue", "decide", case_id, "--as", "ayesha", "--status", "monitoring", "--note", "watch it"
    )
    assert decided.returncode == 0 and "monitoring" in decided.stdout

    out = tmp_path / "cases.csv"
    exported = await raabta(env, "export", "--format", "csv", "--out", str(out))
    assert exported.returncode == 0 and "2/2 cases" in exported.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8-sig"))))
    assert sorted(r["canonical_url"] for r in rows) == ["https://t.me/one", "https://t.me/two"]
    bundle = tmp_path / "cases.stix.json"
    await raabta(env, "export", "--format", "stix", "--out", str(bundle))
    assert len([o for o in stix2.parse(bundle.read_text()).objects if o.type == "indicator"]) == 2

    intact = await raabta(env, "audit", "verify")
    assert intact.returncode == 0 and "intact" in intact.stdout
    async with storage.writer.begin() as conn:
        await conn.execute(update(audit_events).where(audit_events.c.id == 3).values(action="tampered"))
    broken = await raabta(env, "audit", "verify")
    assert broken.returncode == 1 and "BROKEN at event 3" in broken.stdout

    revoked = await raabta(env, "token", "revoke", "--name", "ayesha")
    assert revoked.returncode == 0
    again = await raabta(env, "token", "revoke", "--name", "ayesha")
    assert again.returncode == 1
