"""Intents from a Rasa NLU server: `POST {RAABTA_RASA_URL}/model/parse` with `{"text": ...}`.

Rasa answers `{"text", "intent": {"name", "confidence"}, "entities", "intent_ranking": [...]}`. We keep
only the intent and its ranking: language, links and entities come from our own code. Rasa's
`nlu_fallback` (FallbackClassifier) is our `out_of_scope`; intents we do not know are dropped.

Any failure (timeout, refused connection, HTTP error, a body that is not a parse) returns None, and the
caller uses the embedded model. After a failure the server is left alone for `cooldown` seconds, so that
a dead server does not add its timeout to every message.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import httpx

from nlu.data import INTENTS
from nlu.types import Intent

log = logging.getLogger(__name__)

TIMEOUT = 1.0  # seconds for one parse; Rasa answers in 10-20 ms on a warm server
COOLDOWN = 30.0  # seconds without asking after a failure
FALLBACK = {"nlu_fallback": "out_of_scope"}


def ranking_from(body: Any) -> list[Intent] | None:
    """Our intent ranking from a Rasa `/model/parse` response body, or None if it is not one."""
    if not isinstance(body, dict):
        return None
    entries = []
    ranked = body.get("intent_ranking")
    if isinstance(ranked, list):
        entries.extend(ranked)
    top = body.get("intent")
    if isinstance(top, dict):
        entries.append(top)
    best: dict[str, float] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        raw_name, confidence = entry.get("name"), entry.get("confidence")
        if not isinstance(raw_name, str) or isinstance(confidence, bool):
            continue
        if not isinstance(confidence, int | float) or not 0.0 <= confidence <= 1.0:
            continue
        name = FALLBACK.get(raw_name, raw_name)
        if name in INTENTS:
            best[name] = max(best.get(name, 0.0), float(confidence))
    if not best:
        return None
    ranked_names = sorted(best, key=lambda n: (-best[n], INTENTS.index(n)))
    return [Intent(n, best[n]) for n in ranked_names]


class RasaClient:
    def __init__(
        self,
        url: str,
        timeout: float = TIMEOUT,
        cooldown: float = COOLDOWN,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.endpoint = url.rstrip("/") + "/model/parse"
        self.timeout = timeout
        self.cooldown = cooldown
        self._transport = transport
        self._async_transport = async_transport
        self._sync: httpx.Client | None = None
        self._resting_until = 0.0
        self._lock = threading.Lock()
        self.failures = 0

    def _resting(self) -> bool:
        return time.monotonic() < self._resting_until

    def _failed(self, reason: str) -> None:
        self.failures += 1
        if not self._resting():
            log.warning(
                "nlu_rasa_unavailable",
                extra={"fields": {"url": self.endpoint, "reason": reason[:200], "fallback": "embedded"}},
            )
        self._resting_until = time.monotonic() + self.cooldown

    def _read(self, response: httpx.Response) -> list[Intent] | None:
        if response.status_code != 200:
            self._failed(f"HTTP {response.status_code}")
            return None
        try:
            ranking = ranking_from(response.json())
        except ValueError:
            ranking = None
        if ranking is None:
            self._failed("not a Rasa parse result")
        return ranking

    def rank(self, text: str) -> list[Intent] | None:
        """Rasa's ranking for `text`, or None (then use the embedded model). Blocks up to `timeout`."""
        if self._resting():
            return None
        with self._lock:
            if self._sync is None:
                self._sync = httpx.Client(timeout=self.timeout, transport=self._transport)
            client = self._sync
        try:
            response = client.post(self.endpoint, json={"text": text})
        except httpx.HTTPError as exc:
            self._failed(f"{type(exc).__name__}: {exc}")
            return None
        return self._read(response)

    async def arank(self, text: str) -> list[Intent] | None:
        """`rank` without blocking the event loop."""
        if self._resting():
            return None
        try:
            async with httpx.AsyncClient(timeout=self.timeout, transport=self._async_transport) as client:
                response = await client.post(self.endpoint, json={"text": text})
        except httpx.HTTPError as exc:
            self._failed(f"{type(exc).__name__}: {exc}")
            return None
        return self._read(response)

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
            self._sync = None


_clients: dict[str, RasaClient] = {}
_clients_lock = threading.Lock()


def client(url: str) -> RasaClient:
    """The shared client for one server URL."""
    with _clients_lock:
        found = _clients.get(url)
        if found is None:
            found = _clients[url] = RasaClient(url, timeout=TIMEOUT, cooldown=COOLDOWN)
        return found


def reset() -> None:
    """Close and forget the shared clients (after reconfiguring, and in tests)."""
    with _clients_lock:
        for found in _clients.values():
            found.close()
        _clients.clear()
