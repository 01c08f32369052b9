"""`raabta token|queue|export|audit` as an operator runs them, on both backends."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
from pathlib import Path

import stix2
from sqlalchemy import select, update

from storage.repository import Storage
from storage.schema import audit_events
from tests.test_api import add_report
from tests.test_cli import RAABTA, env_for


async def raabta(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run, [*RAABTA, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


async def create_token(env: dict[str, str], name: str, role: str) -> str:
    created = await raabta(env, "token", "create", "--name", name, "--role", role)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("rbt_")
    return token


async def audit_trail(storage: Storage, case_id: str) -> list[tuple[str, str]]:
    async with storage.reader.connect() as conn:
        rows = await conn.execute(
            select(audit_events.c.actor, audit_events.c.action)
            .where(audit_events.c.subject == f"case:{case_id}", audit_events.c.action != "report.received")
            .order_by(audit_events.c.id)
        )
        return [(r.actor, r.action) for r in rows]


async def test_tokens_queue_export_and_audit_from_the_command_line(
    tmp_path: Path, db_url: str, storage: Storage
) -> None:
    env = env_for(tmp_path, RAABTA_DATABASE_URL=db_url)
    token = await create_token(env, "ayesha", "analyst")
    duplicate = await raabta(env, "token", "create", "--name", "ayesha", "--role", "analyst")
    assert duplicate.returncode == 1 and "exists already" in duplicate.stderr
    listed = await raabta(env, "token", "list")
    assert "ayesha" in listed.stdout and token not in listed.stdout
    other = await create_token(env, "bilal", "analyst")

    for url in ("https://t.me/one", "https://t.me/two"):
        await add_report(storage, url)
    ayesha = {**env, "RAABTA_TOKEN": token}  # the environment variable, or --token: both act as the token
    queue = await raabta(ayesha, "queue", "list")
    assert "https://t.me/one" in queue.stdout and "https://t.me/two" in queue.stdout
    claimed = await raabta(env, "queue", "claim", "--token", token)
    assert claimed.returncode == 0, claimed.stderr
    case_id = claimed.stdout.splitlines()[1].split()[0]
    shown = json.loads((await raabta(ayesha, "queue", "show", case_id)).stdout)
    assert shown["status"] == "in_review" and shown["assignee"] == "ayesha"
    noted = await raabta(ayesha, "queue", "note", case_id, "--note", "same admin as last week")
    assert noted.returncode == 0 and "note added by ayesha" in noted.stdout
    extended = await raabta(ayesha, "queue", "extend", case_id, "--lease", "1800")
    assert extended.returncode == 0 and "held by ayesha until" in extended.stdout
    released = await raabta(ayesha, "queue", "release", case_id)
    assert released.returncode == 0 and "released" in released.stdout
    assert (await raabta(ayesha, "queue", "release", case_id)).returncode == 1  # no longer held
    await raabta(ayesha, "queue", "claim")
    wrong = await raabta(
        env,
        "queue",
        "decide",
        case_id,
        "--token",
        other,
        "--status",
        "no_action",
        "--note",
        "x",
        "--reason",
        "not_extremist",
    )
    assert wrong.returncode == 1 and "not held by you" in wrong.stderr
    decided = await raabta(
        ayesha, "queue", "decide", case_id, "--status", "escalated", "--note", "recruiting"
    )
    assert decided.returncode == 0 and "escalated" in decided.stdout, decided.stderr
    assert await audit_trail(storage, case_id) == [
        ("ayesha", "case.claimed"),
        ("ayesha", "case.noted"),
        ("ayesha", "case.extended"),
        ("ayesha", "case.released"),
        ("ayesha", "case.claimed"),
        ("ayesha", "case.decided"),
    ]

    out = tmp_path / "cases.csv"
    exported = await raabta(env, "export", "--format", "csv", "--out", str(out))
    assert exported.returncode == 0 and "2/2 cases" in exported.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8-sig"))))
    assert sorted(r["canonical_url"] for r in rows) == ["https://t.me/one", "https://t.me/two"]
    bundle = tmp_path / "cases.stix.json"
    await raabta(env, "export", "--format", "stix", "--out", str(bundle))
    # STIX carries what analysts shared with partners: the escalated case, not the one still open.
    assert len([o for o in stix2.parse(bundle.read_text()).objects if o.type == "indicator"]) == 1

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


async def test_queue_commands_act_only_as_a_valid_analyst_or_supervisor_token(
    tmp_path: Path, db_url: str, storage: Storage
) -> None:
    env = env_for(tmp_path, RAABTA_DATABASE_URL=db_url)
    analyst = await create_token(env, "ayesha", "analyst")
    revoked = await create_token(env, "bilal", "analyst")
    assert (await raabta(env, "token", "revoke", "--name", "bilal")).returncode == 0
    counsellor = await create_token(env, "zara", "counsellor")
    supervisor = await create_token(env, "sana", "supervisor")
    await add_report(storage, "https://t.me/one")
    events_before = await storage.count("audit_events")

    gone = await raabta(env, "queue", "claim", "--as", "ghost", "--token", analyst)
    assert gone.returncode == 2 and "unrecognized arguments: --as" in gone.stderr
    missing = await raabta(env, "queue", "claim")
    assert missing.returncode == 2 and "raabta: queue commands act as a token" in missing.stderr
    for token, why in (
        ("rbt_" + "x" * 43, "unknown or revoked"),
        ("ghost", "unknown or revoked"),
        (revoked, "unknown or revoked"),
        (counsellor, "zara is a counsellor"),
    ):
        for args in (("claim",), ("list",), ("show", "1")):
            refused = await raabta(env, "queue", *args, "--token", token)
            assert refused.returncode == 2 and why in refused.stderr, (args, refused.stderr)
            assert refused.stdout == ""
        from_env = await raabta({**env, "RAABTA_TOKEN": token}, "queue", "claim")
        assert from_env.returncode == 2 and why in from_env.stderr
    assert await storage.count("audit_events") == events_before  # nothing happened
    shown = json.loads((await raabta(env, "queue", "show", "1", "--token", analyst)).stdout)
    assert shown["status"] == "new" and shown["assignee"] is None

    claimed = await raabta(env, "queue", "claim", "--token", supervisor)
    assert claimed.returncode == 0, claimed.stderr
    decided = await raabta(
        env,
        "queue",
        "decide",
        "1",
        "--token",
        supervisor,
        "--status",
        "no_action",
        "--note",
        "not extremism",
        "--reason",
        "not_extremist",
    )
    assert decided.returncode == 0, decided.stderr
    assert await audit_trail(storage, "1") == [("sana", "case.claimed"), ("sana", "case.decided")]


async def test_a_report_that_arrived_after_the_claim_is_read_before_deciding(
    tmp_path: Path, db_url: str, storage: Storage
) -> None:
    env = {**env_for(tmp_path, RAABTA_DATABASE_URL=db_url)}
    env["RAABTA_TOKEN"] = await create_token(env, "ayesha", "analyst")
    await add_report(storage, "https://t.me/late_news")
    assert (await raabta(env, "queue", "claim")).returncode == 0
    await add_report(storage, "https://t.me/late_news", urgent=True)  # while the case is held
    unseen = await raabta(
        env, "queue", "decide", "1", "--status", "no_action", "--note", "nothing", "--reason", "not_extremist"
    )
    assert unseen.returncode == 1 and "seen_reports=2" in unseen.stderr
    shown = json.loads((await raabta(env, "queue", "show", "1")).stdout)
    assert len(shown["reports"]) == 2 and shown["status"] == "in_review"
    decided = await raabta(
        env, "queue", "decide", "1", "--status", "escalated", "--note", "read both", "--seen-reports", "2"
    )
    assert decided.returncode == 0 and "escalated" in decided.stdout, decided.stderr


async def test_queue_decide_takes_the_reason_its_reporters_are_told(
    tmp_path: Path, db_url: str, storage: Storage
) -> None:
    env = {**env_for(tmp_path, RAABTA_DATABASE_URL=db_url)}
    env["RAABTA_TOKEN"] = await create_token(env, "ayesha", "analyst")
    code = await add_report(storage, "https://t.me/gone_already")
    assert (await raabta(env, "queue", "claim")).returncode == 0
    decide = ("queue", "decide", "1", "--status", "no_action", "--note", "the channel is gone")
    missing = await raabta(env, *decide)
    assert (
        missing.returncode == 1 and "needs a reason" in missing.stderr and "already_removed" in missing.stderr
    )
    unfit = await raabta(env, *decide, "--reason", "kept_under_watch")
    assert unfit.returncode == 1 and "does not fit a no_action decision" in unfit.stderr
    unknown = await raabta(env, *decide, "--reason", "because")
    assert unknown.returncode == 2 and "invalid choice" in unknown.stderr
    helped = await raabta(env, "queue", "decide", "--help")
    assert "already_removed (no_action)" in helped.stdout
    assert json.loads((await raabta(env, "queue", "show", "1")).stdout)["status"] == "in_review"
    decided = await raabta(env, *decide, "--reason", "already_removed")
    assert decided.returncode == 0, decided.stderr
    assert "no_action (already_removed)" in decided.stdout
    shown = json.loads((await raabta(env, "queue", "show", "1")).stdout)
    assert shown["reason"] == "already_removed"
    assert [h["detail"]["reason"] for h in shown["history"] if h["action"] == "case.decided"] == [
        "already_removed"
    ]
    told = (await storage.reports.told([code]))[code]
    assert (told.word, told.reason) == ("reviewed", "already_removed")
