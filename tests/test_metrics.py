"""/metrics in Prometheus's text format: traffic counters, handling latency, cases and outbox gauges."""

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
    await storage.outbox.enqueue_now("someone", "telegram", "status", {"text": "x"})
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
