"""The `raabta` command as a user runs it: real processes, real files, a real server on a local port."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from tests.conftest import SECRET

RAABTA = [sys.executable, "-m", "bot.cli"]
CODE = re.compile(r"\b([0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4})\b")


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAABTA_")}
    env.update(
        RAABTA_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/cli.db",
        RAABTA_DATA_DIR=str(tmp_path / "data"),
        RAABTA_SECRET_KEY=SECRET,
    )
    env.update(extra)
    return env


def run(
    args: list[str], env: dict[str, str], stdin: str = "", timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RAABTA, *args], input=stdin, capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


def test_db_upgrade_then_a_scripted_terminal_report(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    upgrade = run(["db", "upgrade"], env)
    assert upgrade.returncode == 0, upgrade.stderr
    assert upgrade.stderr == "database is up to date\n"  # no Alembic lines unless --verbose
    # report, the link, the kind (6), Add details (2), the description, Done (1), Send report (1)
    script = "\n".join(
        ["1", "https://t.me/s/Hate_Channel", "6", "2", "Calls for violence against a sect", "1", "1", ""]
    )
    chat = run(["chat", "--lang", "en"], env, stdin=script)
    assert chat.returncode == 0, chat.stderr
    assert "alembic" not in chat.stderr and '"level": "info"' not in chat.stderr  # the chat, nothing else
    assert "[1] Report a page" in chat.stdout
    assert "[1] Send report   [2] Add details" in chat.stdout
    assert "What you saw: Calls for violence against a sect" in chat.stdout
    code = CODE.findall(chat.stdout)
    assert code, chat.stdout
    status = run(["chat"], env, stdin=f"status {code[-1]}\n")
    assert f"Report {code[-1]}: received" in status.stdout


def test_nlu_parse_speaks_json_lines() -> None:
    lines = "\n".join(
        json.dumps({"text": t}) for t in ["report this fb.me/Bad.Page", "یہ پیج بند کرو", "salam"]
    )
    result = subprocess.run(
        [*RAABTA, "nlu", "parse"], input=lines + "\n", capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    parses = [json.loads(line) for line in result.stdout.splitlines()]
    assert [p["language"] for p in parses] == ["en", "ur", "ur-Latn"]
    first = parses[0]
    assert set(first) == {"text", "language", "intent", "intent_ranking", "entities"}
    assert first["intent"]["name"] == "report_content"
    [url] = [e for e in first["entities"] if e["entity"] == "url"]
    assert url["canonical"] == "https://facebook.com/bad.page" and url["platform"] == "facebook"
    bad = subprocess.run(
        [*RAABTA, "nlu", "parse"], input="not json\n", capture_output=True, text=True, timeout=60, check=False
    )
    assert bad.returncode == 2 and "line 1" in bad.stderr


def test_content_check_passes_on_the_shipped_content() -> None:
    result = subprocess.run(
        [*RAABTA, "content", "check"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "content OK" in result.stdout


def test_a_bad_setting_stops_the_start_with_its_name(tmp_path: Path) -> None:
    result = run(["serve"], env_for(tmp_path, RAABTA_RETENTION_DAYS="forever"))
    assert result.returncode != 0
    assert "RAABTA_RETENTION_DAYS" in result.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_serve_answers_and_logs_no_text_or_identity(tmp_path: Path, db_url: str) -> None:
    env = env_for(tmp_path, RAABTA_DATABASE_URL=db_url)
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        *RAABTA, "serve", "--port", str(port), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    session = "sess" + uuid.uuid4().hex
    secret_text = "the recruiter named Zarq0nius"
    http = httpx.AsyncClient()
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if (await http.get(f"{base}/healthz", timeout=1)).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.returncode is None, "server exited early"
            assert time.monotonic() < deadline, "server did not start"
            await asyncio.sleep(0.2)
        api = f"{base}/webchat/api/messages"
        for body in (
            {"text": "/start"},
            {"choice": "lang:en"},
            {"choice": "menu:report"},
            {"text": "https://facebook.com/Zarq0nius.Page"},
            {"choice": "cat:recruitment"},
            {"text": secret_text},
            {"choice": "danger:no"},
            {"choice": "evidence:done"},
            {"choice": "confirm:submit"},
        ):
            reply = await http.post(api, json={"session": session, **body}, timeout=10)
            assert reply.status_code == 200
        assert CODE.search(reply.json()["messages"][0]["text"])
    finally:
        await http.aclose()
        server.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(server.communicate(), timeout=30)
        stderr = err.decode()
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert any(entry["event"] == "message_handled" for entry in lines)
    assert "Zarq0nius" not in stderr
    assert session not in stderr
    assert "127.0.0.1:" not in "".join(line for line in stderr.splitlines() if "message_handled" in line)
    # The audit anchor, logged at the start and again on shutdown: numbers, a hash, a time, a signature.
    anchors = [entry for entry in lines if entry["event"] == "audit_anchor"]
    assert len(anchors) >= 2 and anchors[-1]["count"] >= max(1, anchors[0]["count"])
    assert set(anchors[-1]) == {
        "ts",
        "level",
        "logger",
        "event",
        "count",
        "last_id",
        "hash",
        "at",
        "signature",
    }
    log_file = tmp_path / "server.log"
    log_file.write_text(stderr)  # the server's log is a file of anchors for `audit verify`
    verified = await asyncio.to_thread(run, ["audit", "verify", "--anchor", str(log_file)], env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"(anchor at event {anchors[-1]['last_id']} checked" in verified.stdout
