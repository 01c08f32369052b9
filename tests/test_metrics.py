"""/metrics in Prometheus's text format: traffic counters, handling latency, cases and outbox gauges, and the
database's size and rows."""

from __future__ import annotations

import re

import httpx

from storage.repository import Storage
from tests.test_privacy import report_with_updates


def sample(text: str, name: str, labels: str = "") -> float:
    match = re.search(rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+]+)$", text, re.M)
    assert match, f"{name}{labels} missing"
    return float(match.group(1))


async def test_metrics_count_traffic_and_read_the_queue(client: httpx.AsyncClient, storage: Storage) -> None:
    before = (await client.get("/metrics")).text

    def earlier(name: str) -> float:  # the counters are the process's: earlier tests counted too
        return sample(before, name, '{channel="webchat"}') if f'{name}{{channel="webchat"}}' in before else 0

    reports_before = earlier("raabta_reports_total")
    messages_before = earlier("raabta_messages_in_total")
    handled_before = earlier("raabta_handling_seconds_count")
    await report_with_updates(client, "https://t.me/metrics_case")
    await storage.outbox.enqueue_now("someone", "telegram", "status", {"text": "x", "buttons": []})
    response = await client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    messages = sample(text, "raabta_messages_in_total", '{channel="webchat"}') - messages_before
    assert messages >= 5  # a report from opening the chat: at least start, language, menu, link, kind, send
    assert sample(text, "raabta_reports_total", '{channel="webchat"}') == reports_before + 1
    assert sample(text, "raabta_handling_seconds_count", '{channel="webchat"}') - handled_before == messages
    assert sample(text, "raabta_cases", '{status="new"}') == 1
    assert sample(text, "raabta_outbox_pending") == 1
    assert "t.me" not in text and "metrics_case" not in text


async def test_metrics_show_the_database_size_and_the_rows_that_grow(
    client: httpx.AsyncClient, storage: Storage
) -> None:
    await report_with_updates(client, "https://t.me/metrics_rows")
    text = (await client.get("/metrics")).text
    assert sample(text, "raabta_database_bytes") > 100_000  # an SQLite file or a PostgreSQL database
    rows = {
        table: sample(text, "raabta_table_rows", f'{{table="{table}"}}')
        for table in ("conversations", "processed_events", "outbox", "reports", "cases", "contacts")
    }
    assert rows == {
        "conversations": 1,
        "processed_events": await storage.count("processed_events"),
        "outbox": 0,
        "reports": 1,
        "cases": 1,
        "contacts": 1,
    }
    assert rows["processed_events"] >= 6  # one a message
