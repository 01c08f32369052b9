"""`raabta token|queue|export|audit` as an operator runs them, on both backends."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import stix2
from sqlalchemy import select, update

from storage.repository import Storage
from storage.schema import audit_events
from tests.test_api import add_report
from tests.test_api_params import report
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
    assert exported.returncode == 0 and "wrote 2 cases" in exported.stderr
    assert "exporting [" not in exported.stderr  # no progress bar when stderr is not a terminal
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


def on_a_terminal(env: dict[str, str], *args: str) -> tuple[int, str]:
    """Run `raabta` with stderr on a pseudo-terminal, as an operator at a shell sees it: (exit, stderr)."""
    main, side = pty.openpty()
    try:
        done = subprocess.run(
            [*RAABTA, *args], stdout=subprocess.DEVNULL, stderr=side, env=env, timeout=60, check=False
        )
    finally:
        os.close(side)
    seen = b""
    try:
        while chunk := os.read(main, 4096):
            seen += chunk
    except OSError:  # EIO: the terminal's other side is closed and everything was read
        pass
    finally:
        os.close(main)
    return done.returncode, seen.decode()


def lines_of(listing: str) -> list[str]:
    """The case URLs a `queue list` table shows."""
    return sorted(line.split()[-1] for line in listing.splitlines()[1:] if line.strip())


async def test_queue_list_takes_the_apis_filters_and_prints_nothing_else(
    tmp_path: Path, db_url: str, storage: Storage
) -> None:
    env = env_for(tmp_path, RAABTA_DATABASE_URL=db_url)
    env["RAABTA_TOKEN"] = await create_token(env, "ayesha", "analyst")
    await report(storage, "https://facebook.com/page", category="propaganda")
    await report(storage, "https://t.me/channel", platform="telegram", category="propaganda", urgent=True)
    await report(storage, "https://t.me/other", platform="telegram", category="financing")

    listed = await raabta(env, "queue", "list", "--platform", "Telegram", "--category", "propaganda")
    assert listed.returncode == 0 and listed.stderr == ""  # no Alembic or other library lines
    assert lines_of(listed.stdout) == ["https://t.me/channel"]
    assert lines_of((await raabta(env, "queue", "list", "--urgent")).stdout) == ["https://t.me/channel"]
    assert lines_of((await raabta(env, "queue", "list", "--status", "open")).stdout) == [
        "https://facebook.com/page",
        "https://t.me/channel",
        "https://t.me/other",
    ]
    assert (
        lines_of((await raabta(env, "queue", "list", "--from", "2000-01-01", "--to", "2000-01-02")).stdout)
        == []
    )
    first = await raabta(env, "queue", "list", "--limit", "1", "--sort", "first_seen", "--order", "asc")
    assert lines_of(first.stdout) == ["https://facebook.com/page"] and "--cursor" in first.stderr
    cursor = first.stderr.split("--cursor", 1)[1].split()[0]
    rest = await raabta(env, "queue", "list", "--sort", "first_seen", "--order", "asc", "--cursor", cursor)
    assert lines_of(rest.stdout) == ["https://t.me/channel", "https://t.me/other"]
    for args, said in (
        (("--platform", "myspace"), "platform must be one of facebook, telegram"),
        (("--status", "gone"), "status must be one of new, in_review"),
        (("--since", "yesterday"), "since must be an ISO 8601"),
    ):
        bad = await raabta(env, "queue", "list", *args)
        assert bad.returncode == 2 and said in bad.stderr and bad.stdout == "", (args, bad.stderr)

    claimed = await raabta(env, "queue", "claim")
    case_id = claimed.stdout.splitlines()[1].split()[0]
    commands: list[tuple[str, ...]] = [("db", "upgrade"), ("queue", "note", case_id, "looked")]
    for command in commands:
        quiet = await raabta(env, *command)
        assert quiet.returncode == 0, (command, quiet.stderr)
        assert "alembic" not in quiet.stderr and '"level"' not in quiet.stderr, (command, quiet.stderr)
    assert claimed.stderr == ""
    verbosely: list[tuple[str, ...]] = [("--verbose", "queue", "list"), ("queue", "list", "--verbose")]
    for verbose in verbosely:
        loud = await raabta(env, *verbose)
        assert loud.returncode == 0 and "alembic" in loud.stderr, verbose
    shown = json.loads((await raabta(env, "queue", "show", case_id)).stdout)
    assert [n["note"] for n in shown["notes"]] == ["looked"]  # `queue note CASE TEXT`


async def test_queue_decide_takes_an_agency_from_the_configured_list(
    tmp_path: Path, db_url: str, storage: Storage
) -> None:
    env = env_for(tmp_path, RAABTA_DATABASE_URL=db_url, RAABTA_AGENCIES="PTA,NCCIA,CTD Punjab")
    env["RAABTA_TOKEN"] = await create_token(env, "ayesha", "analyst")
    await report(storage, "https://t.me/refer_me", platform="telegram")
    assert (await raabta(env, "queue", "claim")).returncode == 0
    refer = ("queue", "decide", "1", "--status", "referred", "--note", "recruiting")
    unknown = await raabta(env, *refer, "--agency", "Interpol")
    assert unknown.returncode == 2 and "agency must be one of PTA, NCCIA, CTD Punjab" in unknown.stderr
    done = await raabta(env, *refer, "--agency", "ctd punjab")
    assert done.returncode == 0, done.stderr
    assert json.loads((await raabta(env, "queue", "show", "1")).stdout)["agency"] == "CTD Punjab"


async def test_export_filters_and_a_progress_bar_only_on_a_terminal(
    tmp_path: Path, db_url: str, storage: Storage
) -> None:
    env = env_for(tmp_path, RAABTA_DATABASE_URL=db_url)
    await raabta(env, "db", "upgrade")
    await report(storage, "https://facebook.com/صفحہ", category="propaganda")
    await report(storage, "https://t.me/channel", platform="telegram", category="propaganda")
    await report(storage, "https://t.me/other", platform="telegram", category="financing")
    out = tmp_path / "cases.csv"
    exported = await raabta(
        env,
        "export",
        "--format",
        "csv",
        "--out",
        str(out),
        "--platform",
        "TELEGRAM",
        "--category",
        "propaganda",
    )
    assert exported.returncode == 0, exported.stderr
    assert exported.stderr.strip() == f"wrote 1 cases to {out} ({out.stat().st_size} bytes)"
    rows = list(csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8-sig"))))
    assert [r["canonical_url"] for r in rows] == ["https://t.me/channel"]
    bad = await raabta(env, "export", "--format", "csv", "--out", str(out), "--platform", "myspace")
    assert bad.returncode == 2 and "platform must be one of facebook" in bad.stderr
    empty = await raabta(
        env, "export", "--format", "json", "--out", "-", "--from", "2000-01-01", "--to", "2000-01-31"
    )
    assert empty.returncode == 0 and empty.stdout == ""

    code, terminal = await asyncio.to_thread(
        on_a_terminal, env, "export", "--format", "csv", "--out", str(tmp_path / "all.csv")
    )
    assert code == 0 and "exporting [" in terminal and "3/3 cases" in terminal, terminal
    assert "alembic" not in terminal
    everything = (tmp_path / "all.csv").read_bytes()
    assert everything.startswith(b"\xef\xbb\xbf") and "صفحہ" in everything.decode("utf-8-sig")


async def test_queue_search_finds_a_case_by_code_link_or_words(
    tmp_path: Path, db_url: str, storage: Storage
) -> None:
    env = env_for(tmp_path, RAABTA_DATABASE_URL=db_url)
    env["RAABTA_TOKEN"] = await create_token(env, "ayesha", "analyst")
    code = await add_report(
        storage, "https://facebook.com/recruit.page", description="join the lashkar today"
    )
    await add_report(storage, "https://t.me/elsewhere", description="a cooking channel")
    spaced = " ".join(code.replace("-", "").lower())  # as a citizen reads it out over the phone
    for query in (spaced, "https://m.facebook.com/recruit.page?ref=share", "LASHKAR"):
        found = await raabta(env, "queue", "search", query)
        assert found.returncode == 0 and found.stderr == "", (query, found.stderr)
        assert "https://facebook.com/recruit.page" in found.stdout, (query, found.stdout)
        assert "t.me/elsewhere" not in found.stdout
    nothing = await raabta(env, "queue", "search", "nothing-like-this")
    assert nothing.returncode == 0 and "no case matches" in nothing.stdout
    bad = await raabta(env, "queue", "search", "x", "--limit", "0")
    assert bad.returncode == 2 and "limit must be between 1 and 100" in bad.stderr


# The operators' commands run in one process, which then lists every module it has imported.
OPERATOR_COMMANDS = """
import contextlib, io, json, sys
from bot.cli import main

said = io.StringIO()
with contextlib.redirect_stdout(said):
    for argv in (["db", "upgrade"], ["token", "create", "--name", "ayesha", "--role", "analyst"]):
        assert main(argv) == 0, argv
    token = said.getvalue().split()[-1]
    for argv in (
        ["token", "list"],
        ["queue", "list", "--token", token],
        ["queue", "claim", "--token", token],
        ["export", "--format", "csv", "--out", sys.argv[1]],
        ["audit", "verify"],
    ):
        assert main(argv) == 0, argv
print(json.dumps(sorted(sys.modules)))
"""
# What only the bot or another command needs: the NLU's model (numpy, SciPy, scikit-learn), the web app
# and its API (Starlette, uvicorn), the dialogue and the chat channels (python-telegram-bot).
NOT_FOR_OPERATORS = (
    "numpy",
    "scipy",
    "sklearn",
    "nlu.parser",
    "nlu.model",
    "starlette",
    "uvicorn",
    "telegram",
    "bot.app",
    "bot.dialogue",
    "bot.channels",
    "cyberunit.api",
    "cyberunit.openapi",
)


def test_the_operators_commands_load_no_model_web_app_or_chat_channel(tmp_path: Path) -> None:
    """Each `raabta` command is a process that pays for every module it imports: `token`, `queue`,
    `export` and `audit` import neither the NLU's model nor the web app (issue 23: they cost each
    command 0.25 s, a third of its run, and `make test` runs about 200 of them)."""
    done = subprocess.run(
        [sys.executable, "-c", OPERATOR_COMMANDS, str(tmp_path / "cases.csv")],
        env=env_for(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout.splitlines()[-1]))
    assert {"bot.cli", "cyberunit.cli", "storage.queue", "nlu.urls"} <= loaded  # the commands did run
    assert sorted(loaded & set(NOT_FOR_OPERATORS)) == []
