"""Messenger's own counters, registered on the app's Prometheus registry (`bot.metrics.REGISTRY`), so they
appear on /metrics with the others.

- `raabta_messenger_referrals_total{campaign}`: people who came through an m.me link (or an ad) carrying a
  `ref`, by that ref. Never tied to a person: nothing but the count is kept, the ref is not stored with
  the conversation or logged with anything about the sender. A ref is anyone's to write (m.me/<page>?ref=
  anything), so it is cut to a safe label and at most MAX_CAMPAIGNS distinct ones are counted per process;
  the rest count as `other` (a flood of made-up refs cannot grow /metrics).
- `raabta_messenger_standby_total{kind}`: events that reached us on the standby channel (another app,
  such as the Page Inbox, held the thread), by kind; held, not answered (see bot.channels.messenger).
- `raabta_messenger_policy_enforcement_total{action}`: Meta's warnings, blocks and unblocks of the page.
"""

from __future__ import annotations

import re
import threading

from prometheus_client import Counter

from bot.metrics import REGISTRY

MAX_CAMPAIGNS = 100
MAX_LABEL = 40
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")

REFERRALS = Counter(
    "raabta_messenger_referrals",
    "People who opened the Messenger chat through an m.me link or ad with a ref, by campaign (the ref)",
    ["campaign"],
    registry=REGISTRY,
)
STANDBY = Counter(
    "raabta_messenger_standby",
    "Messenger events received on standby (another app such as the Page Inbox held the thread), by kind",
    ["kind"],
    registry=REGISTRY,
)
POLICY = Counter(
    "raabta_messenger_policy_enforcement",
    "Meta's policy enforcement notices for the page (warning, block, unblock)",
    ["action"],
    registry=REGISTRY,
)
_seen: set[str] = set()
_lock = threading.Lock()


def campaign_label(ref: str | None) -> str:
    """The label a ref is counted under: its safe characters, cut to MAX_LABEL; `none` when empty;
    `other` once MAX_CAMPAIGNS distinct labels are in use."""
    label = _UNSAFE.sub("", ref or "")[:MAX_LABEL]
    if not label:
        return "none"
    with _lock:
        if label in _seen:
            return label
        if len(_seen) >= MAX_CAMPAIGNS:
            return "other"
        _seen.add(label)
        return label


def count_referral(ref: str | None) -> None:
    REFERRALS.labels(campaign_label(ref)).inc()


def count_standby(kind: str) -> None:
    STANDBY.labels(kind).inc()


def count_policy(action: str) -> None:
    POLICY.labels(action if action in ("warning", "block", "unblock") else "other").inc()
