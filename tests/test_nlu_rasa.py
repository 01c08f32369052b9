"""The Rasa backend against a real local HTTP server that speaks Rasa's `/model/parse` format.

Intents come from the server; language, links and entities from our code; the safety rules apply on
top; a slow, failing or absent server falls back to the embedded model.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from nlu import aparse, parse, rasa_client
from nlu.parser import configure, embedded_ranking, prepare, reset_backend
from nlu.rasa_client import RasaClient, ranking_from

Reply = tuple[int, bytes, float]  # status, body, delay in seconds


def rasa_body(text: str, ranking: list[tuple[str, float]]) -> bytes:
    """A response shaped like Rasa 3.6's (DIET pipeline): intent, entities, tokens, ranking."""
    tokens, start = [], 0
    for word in text.split():
        start = text.index(word, start)
        tokens.append([start, start + len(word)])
        start += len(word)
    body = {
        "text": text,
        "intent": {"name": ranking[0][0], "confidence": ranking[0][1]},
        "entities": [
            {
                "entity": "platform",
                "start": 0,
                "end": 1,
                "value": "x",
                "confidence_entity": 0.9,
                "extractor": "DIETClassifier",
            }
        ],
        "text_tokens": tokens,
        "intent_ranking": [{"name": n, "confidence": c} for n, c in ranking],
    }
    return json.dumps(body).encode()


@dataclass
class FakeRasa:
    url: str
    script: Callable[[str], Reply]
    seen: list[str] = field(default_factory=list)


def greets(text: str) -> Reply:
    return 200, rasa_body(text, [("greet", 0.97), ("thanks", 0.02), ("goodbye", 0.01)]), 0.0


@pytest.fixture
def rasa() -> Iterator[FakeRasa]:
    fake = FakeRasa("", greets)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            text = json.loads(self.rfile.read(length))["text"]
            fake.seen.append(f"{self.path} {text}")
            status, body, delay = fake.script(text)
            time.sleep(delay)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the client gave up (timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        reset_backend()
        server.shutdown()
        server.server_close()
        thread.join(5)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_intents_come_from_rasa_and_the_rest_from_our_code(rasa: FakeRasa) -> None:
    configure("rasa", rasa.url)
    understood = parse("salam bhai, ye dekho facebook.com/Some.Page?fbclid=1 @someone")
    assert rasa.seen == ["/model/parse salam bhai, ye dekho facebook.com/Some.Page?fbclid=1 @someone"]
    assert understood.language == "ur-Latn"
    # Rasa said greet; a link with small talk is a report (our rule on top of any backend).
    assert understood.intent.name == "report_content"
    [url] = understood.urls()
    assert url.extra == {"canonical": "https://facebook.com/some.page", "platform": "facebook"}
    assert understood.values("handle") == ["@someone"]
    assert ("platform", "x") not in {(e.entity, e.value) for e in understood.entities}


def test_the_ranking_is_mapped_and_nlu_fallback_is_out_of_scope(rasa: FakeRasa) -> None:
    rasa.script = lambda text: (
        200,
        rasa_body(
            text, [("nlu_fallback", 0.3), ("report_content", 0.51), ("family_help", 0.48), ("mystery", 0.1)]
        ),
        0.0,
    )
    configure("rasa", rasa.url)
    understood = parse("what is the weather on mars")
    assert [(i.name, i.confidence) for i in understood.intent_ranking] == [
        ("report_content", 0.51),
        ("family_help", 0.48),
        ("out_of_scope", 0.3),
    ]
    rasa.script = greets
    hello = parse("hello")
    assert (hello.intent.name, hello.intent.confidence) == ("greet", 0.97)


def test_an_emergency_rasa_calls_harmless_is_still_an_emergency(rasa: FakeRasa) -> None:
    configure("rasa", rasa.url)
    assert parse("hello, there is a bomb in the bazaar").intent.name == "emergency"


def test_a_bare_command_goes_to_rasa_every_time(rasa: FakeRasa, caplog: pytest.LogCaptureFixture) -> None:
    """The embedded backend keeps a bare command's parse (nlu.parser._kept); Rasa's may change. An empty
    message (a button press) still goes to Rasa too, and parses without a failure."""
    parse("/start")  # kept by the embedded backend
    configure("rasa", rasa.url)
    parse("/start")
    parse("/start")
    assert rasa.seen == ["/model/parse /start"] * 2
    with caplog.at_level(logging.ERROR):
        parse("")
    assert "nlu_parse_failed" not in caplog.text


@pytest.mark.parametrize(
    "reply",
    [
        (
            500,
            b'{"version": "3.6.21", "status": "failure", "message": "boom", "reason": "x", "code": 500}',
            0.0,
        ),
        (200, b"not json", 0.0),
        (200, b'{"text": "x", "intent": {"name": "greet", "confidence": "high"}}', 0.0),
        (200, b'{"text": "x", "intent": null, "intent_ranking": []}', 0.0),
        (200, b"[1, 2, 3]", 0.0),
        (404, b"{}", 0.0),
    ],
)
def test_a_failing_server_falls_back_to_the_embedded_model(rasa: FakeRasa, reply: Reply) -> None:
    rasa.script = lambda text: reply
    configure("rasa", rasa.url)
    text = "mujhe ek telegram channel report karna hai"
    understood = parse(text)
    assert understood.intent.name == embedded_ranking(prepare(text))[0].name == "report_content"
    assert rasa.seen  # it was asked


def test_a_slow_server_times_out_and_is_then_left_alone(rasa: FakeRasa) -> None:
    rasa.script = lambda text: (*greets(text)[:2], 1.0)
    client = RasaClient(rasa.url, timeout=0.2, cooldown=60.0)
    assert client.rank("I want to report a page") is None
    assert client.rank("again") is None  # cooling down: not asked
    assert len(rasa.seen) == 1 and client.failures == 1
    client.close()


def test_the_cooldown_ends(rasa: FakeRasa) -> None:
    rasa.script = lambda text: (503, b"{}", 0.0)
    client = RasaClient(rasa.url, timeout=1.0, cooldown=0.0)
    assert client.rank("hello") is None
    rasa.script = greets
    ranking = client.rank("hello")
    assert ranking is not None and ranking[0].name == "greet"
    client.close()


def test_a_dead_server_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rasa_client, "TIMEOUT", 0.5)
    configure("rasa", f"http://127.0.0.1:{closed_port()}")
    try:
        assert parse("I want to report a page").intent.name == "report_content"
    finally:
        reset_backend()


def test_the_environment_chooses_the_backend(rasa: FakeRasa, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAABTA_NLU", "rasa")
    monkeypatch.setenv("RAABTA_RASA_URL", rasa.url + "/")
    reset_backend()
    assert parse("hello").intent.confidence == 0.97
    assert rasa.seen == ["/model/parse hello"]
    monkeypatch.setenv("RAABTA_NLU", "embedded")
    reset_backend()
    parse("hello")
    assert len(rasa.seen) == 1


def test_rasa_without_a_url_is_refused_or_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError):
        configure("rasa", None)
    with pytest.raises(ValueError):
        configure("spacy", "http://127.0.0.1:1")
    monkeypatch.setenv("RAABTA_NLU", "rasa")
    monkeypatch.delenv("RAABTA_RASA_URL", raising=False)
    reset_backend()
    try:
        assert parse("salam").intent.name == "greet"
    finally:
        reset_backend()


async def test_aparse_awaits_rasa(rasa: FakeRasa) -> None:
    configure("rasa", rasa.url)
    understood = await aparse("hello")
    assert (understood.intent.name, understood.intent.confidence, understood.language) == (
        "greet",
        0.97,
        "en",
    )
    rasa.script = lambda text: (500, b"{}", 0.0)
    rasa_client.reset()
    fallback = await aparse("mujhe ek telegram channel report karna hai")
    assert fallback.intent.name == "report_content"


def test_ranking_from_ignores_what_is_not_a_parse() -> None:
    assert ranking_from(None) is None
    assert ranking_from({"intent": {"name": "greet", "confidence": 1.5}}) is None
    assert ranking_from({"intent": {"name": "greet", "confidence": True}}) is None
    found = ranking_from(
        {"intent": {"name": "deny", "confidence": 0.6}, "intent_ranking": ["x", {"name": 3}]}
    )
    assert found is not None and [(i.name, i.confidence) for i in found] == [("deny", 0.6)]
