"""Two `raabta serve` processes on one PostgreSQL database, behind no load balancer (issue 21).

The deployment guide says several instances may share one database: state lives in the database, every
inbound event has an idempotency key, conversation rows carry a version, and the background workers lease
their rows. Nothing of that is visible with one process, so this test runs two real servers, A and B, and
lets the clients pick the instance, as a round-robin balancer (or a citizen retrying) would:

(a) web chat: several conversations at once, each message sent to A or B in turn, some of them to both
    at the same moment with the same id (a client retrying on another instance); each conversation files
    two reports and ends with two different messages sent to A and B at the same moment;
(b) Messenger: every signed webhook post delivered to A and B at the same moment, then once more;
(c) notifications: both instances run their outbox workers, and the web chat's notifications are pulled
    from both instances at the same moment;
(d) analysts claim the next case through the API of A and B concurrently, and decide each on the other
    instance.

What must hold: no lost turn (every message answered, or answered "please send it again" and then
answered on retry; each conversation's version counts its turns exactly), no duplicate report (one per
submit, and the codes shown are the codes stored), one reply per Messenger event, one case per link, no
case claimed twice, and every notification delivered exactly once.

It runs only with PostgreSQL (RAABTA_TEST_POSTGRES_URL): SQLite is one process's database.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import func, select

from bot.channels.messenger import PATH as MESSENGER_PATH
from bot.shared.identity import Pseudonyms
from nlu.refcode import ALPHABET
from responses import catalog
from storage import audit
from storage.repository import Storage
from storage.schema import audit_events, cases, conversations, outbox, processed_events, reports
from storage.tokens import Tokens
from tests.conftest import PG_URL, SECRET, create_pg_database, drop_pg_database
from tests.fakes.graph_api import Call, FakeGraphAPI
from tests.servers import Server, run_cli, server_env
from tests.test_messenger import APP_SECRET, PAGE_TOKEN, VERIFY_TOKEN, message_body, sign

pytestmark = pytest.mark.postgres

CODE = re.compile(rf"\b([{ALPHABET}]{{4}}-[{ALPHABET}]{{4}})\b")
WEBCHAT = "/webchat/api/messages"
API = "/api/v1"
CONVERSATIONS = 6  # web chat sessions, two reports each
MESSENGER_CITIZENS = 3  # one report each
ANALYSTS = 4
SHARED_LINKS = 3  # links reported by several citizens on both channels: one case each
PATIENCE = 30.0  # seconds any one condition may take; never a measured duration
UNLIMITED = "100000"
PSEUDONYMS = Pseudonyms(SECRET.encode())


async def wait_until(condition: Callable[[], bool], what: str, patience: float = PATIENCE) -> None:
    """Poll `condition` until it holds; fail naming `what` after `patience` seconds."""
    deadline = time.monotonic() + patience
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {patience:.0f} s: {what}")
        await asyncio.sleep(0.05)


def shared_link(n: int) -> str:
    return f"https://t.me/shared_channel_{n % SHARED_LINKS}"


# --- the deployment --------------------------------------------------------------------------------------


@dataclass
class Deployment:
    a: Server
    b: Server
    graph: FakeGraphAPI
    storage: Storage  # the test's own view of the database, for the checks
    tokens: list[str]  # one analyst's each

    @property
    def servers(self) -> tuple[Server, Server]:
        return self.a, self.b

    def pick(self, n: int) -> Server:
        """A for even `n`, B for odd: a round-robin balancer."""
        return self.servers[n % 2]


@pytest.fixture
async def database() -> AsyncIterator[str]:
    """A fresh database on the test server, dropped afterwards. Without RAABTA_TEST_POSTGRES_URL the test
    is skipped; with it set, a server that cannot be reached fails the test (CI must not pass silently)."""
    if not PG_URL:
        pytest.skip("RAABTA_TEST_POSTGRES_URL is not set: two instances need a PostgreSQL server")
    try:
        url = await create_pg_database()
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"RAABTA_TEST_POSTGRES_URL is set but the server cannot be used: {exc!r}")
    try:
        yield url
    finally:
        await drop_pg_database(url)


@pytest.fixture
def graph() -> Iterator[tuple[FakeGraphAPI, str]]:
    """The fake Graph API over real HTTP (both instances send to it); its base URL."""
    fake = FakeGraphAPI(PAGE_TOKEN, APP_SECRET)
    with fake.serve() as url:
        yield fake, url


@pytest.fixture
async def deployment(
    database: str, graph: tuple[FakeGraphAPI, str], tmp_path: Path
) -> AsyncIterator[Deployment]:
    """As the deployment guide says: the schema upgraded once (`raabta db upgrade`), then two instances
    with the same configuration, in production mode (which refuses to start on an old schema), on the one
    database. One analyst's token is made as an operator does (`raabta token create`), the others directly
    (each command is a whole process start on a shared CI machine). The servers are stopped even when the
    test fails, and the end of their logs printed (pytest shows it for a failed test)."""
    fake, graph_url = graph
    env = server_env(
        RAABTA_ENV="production",
        RAABTA_DATABASE_URL=database,
        RAABTA_SECRET_KEY=SECRET,
        RAABTA_DATA_DIR=str(tmp_path / "data"),
        RAABTA_WEBCHAT_IP_LIMIT="0",
        RAABTA_MESSAGES_PER_MINUTE=UNLIMITED,
        RAABTA_REPORTS_PER_HOUR=UNLIMITED,
        RAABTA_REPORTS_PER_DAY=UNLIMITED,
        RAABTA_MESSENGER_PAGE_TOKEN=PAGE_TOKEN,
        RAABTA_MESSENGER_APP_SECRET=APP_SECRET,
        RAABTA_MESSENGER_VERIFY_TOKEN=VERIFY_TOKEN,
        RAABTA_GRAPH_API_URL=graph_url,
    )
    await run_cli(["db", "upgrade"], env)
    storage = Storage(database, SECRET.encode())
    a, b = Server("A", env, tmp_path / "a.log"), Server("B", env, tmp_path / "b.log")
    try:
        setup = await asyncio.gather(
            a.start(),
            b.start(),
            run_cli(["token", "create", "--name", "analyst-0", "--role", "analyst"], env),
            return_exceptions=True,
        )
        failed = [r for r in setup if isinstance(r, BaseException)]
        if failed:
            raise failed[0]
        tokens = [str(setup[2]).strip().splitlines()[-1]]  # the command prints the token last
        tokens += [await Tokens(storage).create(f"analyst-{n}", "analyst") for n in range(1, ANALYSTS)]
        yield Deployment(a, b, fake, storage, tokens)
    finally:
        await asyncio.gather(a.stop(), b.stop())
        await storage.close()
        for server in (a, b):
            print(f"----- the end of instance {server.name}'s log ({server.log}) -----\n{server.tail()}")


# --- (a) web chat ----------------------------------------------------------------------------------------


@dataclass
class WebCitizen:
    """One browser session whose messages reach A or B; retries a 503 with the same message id, as the
    page does."""

    http: httpx.AsyncClient
    deployment: Deployment
    index: int
    session: str = field(default_factory=lambda: uuid.uuid4().hex)
    codes: list[str] = field(default_factory=list)
    turns: int = 0  # distinct messages sent (ids)
    retries: int = 0  # "please send it again" answers, each retried

    @property
    def pseudonym(self) -> str:
        return PSEUDONYMS.of("webchat", self.session)

    async def turn(
        self, body: dict[str, str], on: Server, also: Server | None = None
    ) -> list[dict[str, Any]]:
        """Send one message (to `on`, and to `also` at the same moment with the same id) until it is
        answered; the answer. Every instance that answers 200 must give the same answer."""
        message = {"session": self.session, "id": uuid.uuid4().hex, **body}
        self.turns += 1
        targets = [on] if also is None else [on, also]
        deadline = time.monotonic() + PATIENCE
        while True:
            answers = await asyncio.gather(*(self.http.post(t.url + WEBCHAT, json=message) for t in targets))
            for answer in answers:
                assert answer.status_code in (200, 503), answer.text
                if answer.status_code == 503:
                    said = answer.json()["messages"]
                    assert [m["text"] for m in said] == [catalog().text("common.unavailable", "en")], said
                    self.retries += 1
            done: list[list[dict[str, Any]]] = [a.json()["messages"] for a in answers if a.status_code == 200]
            if done:
                assert all(d == done[0] for d in done), f"A and B answered one message differently: {done}"
                return done[0]
            assert time.monotonic() < deadline, f"{body} was never answered"
            await asyncio.sleep(0.05)

    async def report(self, link: str, category: str, first: int) -> None:
        """Type a link, choose its kind, tap Send, say yes to updates: four turns from turn `first` on,
        alternating between the instances; the first message and the Send tap also reach the other
        instance at the same moment."""
        steps: list[tuple[dict[str, str], str, bool]] = [
            ({"text": link}, f"cat:{category}", True),
            ({"choice": f"cat:{category}"}, "confirm:submit", False),
            ({"choice": "confirm:submit"}, "updates:yes", True),
            ({"choice": "updates:yes"}, "menu:report", False),
        ]
        for k, (body, offered, both) in enumerate(steps, first):
            on = self.deployment.pick(self.index + k)
            other = self.deployment.pick(self.index + k + 1)
            said = await self.turn(body, on, other if both else None)
            buttons = [b["id"] for m in said for b in m["buttons"]]
            assert offered in buttons, f"after {body}: {said}"
            if body.get("choice") == "confirm:submit":
                shown = {c for m in said for c in CODE.findall(m["text"])}
                assert len(shown) == 1, said
                self.codes.append(shown.pop())

    async def converse(self) -> None:
        """Two reports, then two status questions sent to A and B at the same moment (the second commit
        finds the version moved and is retried): both answered, each about its own code."""
        await self.report(shared_link(self.index), "propaganda", 0)
        await self.report(f"https://t.me/own_channel_{self.index}", "recruitment", 4)
        first, second = await asyncio.gather(
            self.turn({"text": f"status {self.codes[0]}"}, self.deployment.a),
            self.turn({"text": f"status {self.codes[1].lower().replace('-', '')}"}, self.deployment.b),
        )
        assert self.codes[0] in " ".join(m["text"] for m in first), first
        assert self.codes[1] in " ".join(m["text"] for m in second), second


# --- (b) Messenger ---------------------------------------------------------------------------------------


@dataclass
class MessengerCitizen:
    """A person writing to the page; Meta delivers each event to A and B at once, and again later."""

    http: httpx.AsyncClient
    deployment: Deployment
    psid: str
    events: int = 0

    @property
    def pseudonym(self) -> str:
        return PSEUDONYMS.of("messenger", self.psid)

    def sent(self, messaging_type: str) -> list[Call]:
        """What the bot delivered to this person, of one messaging type (RESPONSE: replies; UPDATE:
        notifications)."""
        return [
            c
            for c in self.deployment.graph.sent_to(self.psid)
            if c.body.get("messaging_type") == messaging_type
        ]

    async def event(self, expected: str, **message: Any) -> None:
        """One event, posted signed to A and B at the same moment and once more to one of them; returns
        once the reply offering the button `expected` has reached the Graph API."""
        self.events += 1
        mid = f"m_two_{self.psid}_{self.events}_" + uuid.uuid4().hex
        body = message_body(self.psid, mid, int(time.time() * 1000), **message)
        content = json.dumps(body, separators=(",", ":")).encode()
        headers = {"content-type": "application/json", "X-Hub-Signature-256": sign(content)}
        before = len(self.sent("RESPONSE"))

        async def post(server: Server) -> None:
            answer = await self.http.post(server.url + MESSENGER_PATH, content=content, headers=headers)
            assert answer.status_code == 200, f"{server.name}: {answer.status_code} {answer.text}"

        await asyncio.gather(post(self.deployment.a), post(self.deployment.b))
        await post(self.deployment.pick(self.events))  # Meta's redelivery, after both were acknowledged
        await wait_until(
            lambda: any(expected in c.payloads for c in self.sent("RESPONSE")[before:]),
            f"a reply offering {expected} to {self.psid}",
        )

    async def converse(self, n: int) -> None:
        await self.event("cat:propaganda", text=f"Look at this: {shared_link(n)}")
        await self.event("confirm:submit", text="Propaganda", quick_reply={"payload": "cat:propaganda"})
        await self.event("updates:yes", text="Send report", quick_reply={"payload": "confirm:submit"})
        await self.event("menu:report", text="Yes", quick_reply={"payload": "updates:yes"})

    @property
    def codes(self) -> list[str]:
        return [code for c in self.sent("RESPONSE") for code in CODE.findall(c.text)]


# --- (d) analysts ----------------------------------------------------------------------------------------


async def analyst(http: httpx.AsyncClient, deployment: Deployment, n: int) -> list[int]:
    """Claim the next case (on A or B in turn) and refer it on the other instance, until the queue is
    empty; the ids claimed."""
    headers = {"Authorization": f"Bearer {deployment.tokens[n]}"}
    claimed: list[int] = []
    for k in range(n, n + 1000):
        claim = await http.post(deployment.pick(k).url + f"{API}/queue/claim", headers=headers, json={})
        assert claim.status_code == 200, claim.text
        items = claim.json()["items"]
        if not items:
            return claimed
        case_id = int(items[0]["id"])
        claimed.append(case_id)
        decision = {"status": "referred", "agency": "PTA", "note": "Referred to the platform."}
        decided = await http.post(
            deployment.pick(k + 1).url + f"{API}/cases/{case_id}/decision", headers=headers, json=decision
        )
        assert decided.status_code == 200, decided.text
    raise AssertionError("the queue never emptied")


async def pull_notifications(http: httpx.AsyncClient, deployment: Deployment, session: str) -> list[str]:
    """One poll of the web chat's notifications sent to A and B at the same moment, twice each: every
    text any of them handed over."""
    polls = [deployment.a, deployment.b, deployment.a, deployment.b]
    answers = await asyncio.gather(*(http.get(s.url + WEBCHAT, params={"session": session}) for s in polls))
    texts = []
    for answer in answers:
        assert answer.status_code == 200, answer.text
        texts += [m["text"] for m in answer.json()["messages"]]
    return texts


# --- the test --------------------------------------------------------------------------------------------


async def count(storage: Storage, query: Any) -> int:
    async with storage.reader.connect() as conn:
        return int(await conn.scalar(query) or 0)


def delivered_by_recipient(graph: FakeGraphAPI) -> Counter[str]:
    """How many messages the Graph API accepted for each recipient."""
    return Counter(c.recipient for c in graph.calls if c.path == "messages" and c.status == 200)


async def test_two_instances_share_one_database_without_losing_or_doubling_anything(
    deployment: Deployment,
) -> None:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    async with httpx.AsyncClient(timeout=PATIENCE, limits=limits) as http:
        chats, page = await citizens_report(http, deployment)
        await analysts_work_the_queue(http, deployment)
        await notifications_go_out_once(http, deployment, chats, page)
    checked = delivered_by_recipient(deployment.graph)
    async with deployment.storage.db.read() as conn:
        verdict = await audit.verify(conn, secret=SECRET.encode())
    assert verdict.intact, f"the audit chain both instances wrote is broken: {verdict.problems}"
    for server in deployment.servers:
        # uvicorn re-raises the SIGTERM it handled once it has shut down; SIGKILL would mean it hung
        assert await server.stop() in (0, -signal.SIGTERM), f"{server.name} did not stop cleanly"
    for server in deployment.servers:
        assert server.errors() == [], f"{server.name} logged errors"
    late = delivered_by_recipient(deployment.graph) - checked
    assert not late, f"messages reached the Graph API after the checks (late duplicates): {late}"


async def citizens_report(
    http: httpx.AsyncClient, deployment: Deployment
) -> tuple[list[WebCitizen], list[MessengerCitizen]]:
    """(a) and (b) at once: web chat conversations spread over A and B, Messenger events delivered to both.
    Every turn answered and applied once, one report per Send, one reply per Messenger event, one case
    per link."""
    chats = [WebCitizen(http, deployment, i) for i in range(CONVERSATIONS)]
    page = [
        MessengerCitizen(http, deployment, f"7{n}{uuid.uuid4().int % 10**14:014d}")
        for n in range(MESSENGER_CITIZENS)
    ]
    await asyncio.gather(
        *(chat.converse() for chat in chats), *(person.converse(n) for n, person in enumerate(page))
    )
    storage = deployment.storage
    async with storage.reader.connect() as conn:
        for chat in chats:
            stored = (
                await conn.scalars(select(reports.c.code).where(reports.c.reporter_id == chat.pseudonym))
            ).all()
            assert sorted(stored) == sorted(chat.codes), "a report per Send tap, under the code shown"
            version = await conn.scalar(
                select(conversations.c.version).where(conversations.c.id == chat.pseudonym)
            )
            assert version == chat.turns, "each message applied to the conversation exactly once"
        for person in page:
            assert len(person.codes) == 1, [c.text for c in person.sent("RESPONSE")]
            stored = (
                await conn.scalars(select(reports.c.code).where(reports.c.reporter_id == person.pseudonym))
            ).all()
            assert list(stored) == person.codes, "one report for a submit delivered three times"
            replies = [(c.text, tuple(c.payloads)) for c in person.sent("RESPONSE")]
            repeated = [r for r, times in Counter(replies).items() if times > 1]
            assert not repeated, f"a Messenger event was answered more than once: {repeated}"
        per_channel = select(processed_events.c.channel, func.count()).group_by(processed_events.c.channel)
        handled = {r[0]: r[1] for r in await conn.execute(per_channel)}
    assert handled == {"webchat": sum(c.turns for c in chats), "messenger": sum(p.events for p in page)}
    cases_now = select(func.count()).select_from(cases)
    assert await count(storage, cases_now) == SHARED_LINKS + CONVERSATIONS, "one case per link"
    shared = select(func.sum(cases.c.report_count)).where(cases.c.canonical_url.like("%shared_channel%"))
    assert await count(storage, shared) == CONVERSATIONS + MESSENGER_CITIZENS
    retried = sum(c.retries for c in chats)
    print(f"web chat: {sum(c.turns for c in chats)} turns; {retried} 'please send it again', retried")
    return chats, page


async def analysts_work_the_queue(http: httpx.AsyncClient, deployment: Deployment) -> None:
    """(d) analysts claim on A and B concurrently, each deciding on the other instance: every case
    claimed once (both outbox workers deliver the first notifications meanwhile)."""
    claimed = await asyncio.gather(*(analyst(http, deployment, n) for n in range(ANALYSTS)))
    every = [case_id for ids in claimed for case_id in ids]
    assert len(every) == len(set(every)), f"a case was claimed twice: {claimed}"
    async with deployment.storage.reader.connect() as conn:
        statuses = {r.id: r.status for r in await conn.execute(select(cases.c.id, cases.c.status))}
        claims = await conn.scalar(
            select(func.count()).select_from(audit_events).where(audit_events.c.action == "case.claimed")
        )
    assert sorted(every) == sorted(statuses), "every case claimed"
    assert set(statuses.values()) == {"referred"}
    assert claims == len(statuses)


async def notifications_go_out_once(
    http: httpx.AsyncClient, deployment: Deployment, chats: list[WebCitizen], page: list[MessengerCitizen]
) -> None:
    """(c) every report asked for updates: one notification each, queued once; Messenger's delivered by
    one of the two outbox workers, once; the web chat's pulled from A and B at the same moment and
    handed over once."""
    storage = deployment.storage
    by_channel = select(outbox.c.channel, func.count()).group_by(outbox.c.channel)
    async with storage.reader.connect() as conn:
        queued = {r[0]: r[1] for r in await conn.execute(by_channel)}
    assert queued == {"webchat": sum(len(c.codes) for c in chats), "messenger": len(page)}

    await wait_until(
        lambda: all(len(p.sent("UPDATE")) >= 1 for p in page), "every Messenger notification delivered"
    )
    pending = (
        select(func.count())
        .select_from(outbox)
        .where(outbox.c.channel == "messenger", outbox.c.status == "pending")
    )
    deadline = time.monotonic() + PATIENCE
    while await count(storage, pending):
        assert time.monotonic() < deadline, "Messenger notifications still pending"
        await asyncio.sleep(0.05)
    rows = select(outbox.c.status, outbox.c.attempts).where(outbox.c.channel == "messenger")
    async with storage.reader.connect() as conn:
        delivered = [(r.status, r.attempts) for r in await conn.execute(rows)]
    assert delivered == [("sent", 1)] * len(page), "each notification leased by one worker, once"
    for person in page:
        [update] = person.sent("UPDATE")
        assert person.codes[0] in update.text, update.text

    for chat in chats:
        got: list[str] = []
        deadline = time.monotonic() + PATIENCE
        while len(got) < len(chat.codes):
            assert time.monotonic() < deadline, f"web chat notifications: got {got}"
            got += await pull_notifications(http, deployment, chat.session)
        assert await pull_notifications(http, deployment, chat.session) == []
        told = Counter(code for text in got for code in CODE.findall(text))
        assert told == Counter(chat.codes), f"each report's notification handed over once: {got}"
