"""Prometheus metrics: counters and a latency histogram kept in process; queue and storage gauges read at
scrape time."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)
MESSAGES_IN = Counter("raabta_messages_in", "Messages received, by channel", ["channel"], registry=REGISTRY)
MESSAGES_OUT = Counter("raabta_messages_out", "Replies sent, by channel", ["channel"], registry=REGISTRY)
REFUSED = Counter(
    "raabta_messages_refused",
    "Messages not handled (flood, block, database down)",
    ["channel", "reason"],
    registry=REGISTRY,
)
HANDLING = Histogram(
    "raabta_handling_seconds",
    "Time to handle one message, from receipt to committed replies",
    ["channel"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    registry=REGISTRY,
)
REPORTS = Counter("raabta_reports", "Reports stored, by channel", ["channel"], registry=REGISTRY)
SEND_FAILURES = Counter(
    "raabta_send_failures",
    "Notification deliveries that did not succeed",
    ["channel", "outcome"],
    registry=REGISTRY,
)
UNREADABLE = Counter(
    "raabta_updates_unreadable",
    "Platform updates that could not be read (answered 200 so they are not delivered again), by channel",
    ["channel"],
    registry=REGISTRY,
)


@functools.cache
def of(metric: Any, *labels: str) -> Any:
    """`metric.labels(*labels)`, found once: prometheus_client makes the same child every time, but finding
    it (a lock, a tuple, a dict) took 5 to 7 microseconds, three times a message (issue 23's profile). The
    label values are few (channels, reasons), so the cache stays small."""
    return metric.labels(*labels)


CASES = Gauge("raabta_cases", "Cases by status", ["status"], registry=REGISTRY)
OUTBOX = Gauge("raabta_outbox_pending", "Notifications waiting in the outbox", registry=REGISTRY)
DATABASE_BYTES = Gauge(
    "raabta_database_bytes",
    "Size of the database (PostgreSQL: pg_database_size; SQLite: the file with its WAL)",
    registry=REGISTRY,
)
ROWS = Gauge("raabta_table_rows", "Rows in the tables that grow with traffic", ["table"], registry=REGISTRY)


def render(
    cases_by_status: dict[str, int],
    outbox_pending: int,
    database_bytes: int | None = None,
    rows: Mapping[str, int] | None = None,
) -> bytes:
    """The exposition text, with the gauges set from the database just now: with the database's size and
    table rows, an operator sees storage grow (and the purge of idle sessions hold it) before the disk
    fills."""
    for status in ("new", "in_review", "referred", "escalated", "monitoring", "no_action", "merged"):
        CASES.labels(status).set(cases_by_status.get(status, 0))
    OUTBOX.set(outbox_pending)
    if database_bytes is not None:
        DATABASE_BYTES.set(database_bytes)
    for table, count in (rows or {}).items():
        ROWS.labels(table).set(count)
    return generate_latest(REGISTRY)
