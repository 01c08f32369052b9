"""The console's security over HTTP, on both backends: sign-in, sessions, roles, CSRF, cookies, headers."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from bot.app import create_app
from bot.shared.config import Settings, load_settings
from cyberunit.console.sessions import ABSOLUTE, COOKIE, IDLE, Session, Sessions
from storage.repository import Storage
from storage.tokens import Tokens, digest
from tests.conftest import SECRET
from tests.test_api import add_report

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')
ROLES = ("analyst", "supervisor", "counsellor", "admin")


@pytest.fixture
async def app(settings: Settings, storage: Storage) -> Starlette:
    return create_app(settings, storage)


@pytest.fixture
async def tokens(storage: Storage) -> dict[str, str]:
    store = Tokens(storage)
    made = {role: await store.create(role, role) for role in ROLES}
    made["analyst2"] = await store.create("analyst2", "analyst")
    return made


def browser(app: Starlette, base: str = "http://testserver") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base)


class Signed:
    """A browser-like client signed in to the console, with the CSRF token its forms carry."""

    def __init__(self, http: httpx.AsyncClient, csrf: str) -> None:
        self.http = http
        self.csrf = csrf

    async def get(self, path: str, **kwargs: object) -> httpx.Response:
        return await self.http.get(path, **kwargs)  # type: ignore[arg-type]

    async def post(self, path: str, data: dict[str, str] | None = None, **kwargs: object) -> httpx.Response:
        form = {"csrf": self.csrf, **(data or {})}
        return await self.http.post(path, data=form, **kwargs)  # type: ignore[arg-type]

    async def aclose(self) -> None:
        await self.http.aclose()


async def sign_in(app: Starlette, token: str, base: str = "http://testserver") -> Signed:
    http = browser(app, base)
    page = await http.get("/console/login")
    assert page.status_code == 200
    [login_csrf] = CSRF.findall(page.text)
    done = await http.post("/console/login", data={"token": token, "csrf": login_csrf})
    assert done.status_code == 303, done.text
    home = await http.get(done.headers["location"])
    assert home.status_code == 200, home.text
    return Signed(http, CSRF.findall(home.text)[0])


@pytest.fixture
async def signed(app: Starlette, tokens: dict[str, str]) -> AsyncIterator[dict[str, Signed]]:
    made = {role: await sign_in(app, tokens[role]) for role in (*ROLES, "analyst2")}
    yield made
    for client in made.values():
        await client.aclose()


# Every console route, with the roles that may use it (mirroring the API's rules).
ROUTES: list[tuple[str, str, dict[str, str] | None, set[str]]] = [
    ("GET", "/console/queue", None, {"analyst", "supervisor"}),
    ("GET", "/console/queue/lanes", None, {"analyst", "supervisor"}),
    ("GET", "/console/cases/1", None, {"analyst", "supervisor"}),
    ("POST", "/console/cases/1/notes", {"note": "looked"}, {"analyst", "supervisor"}),
    ("POST", "/console/cases/1/decision", {"status": "monitoring", "note": "n"}, {"analyst", "supervisor"}),
    ("POST", "/console/cases/1/extend", {}, {"analyst", "supervisor"}),
    ("POST", "/console/cases/1/release", {}, {"analyst", "supervisor"}),
    ("POST", "/console/cases/1/assign", {"assignee": "analyst"}, {"supervisor"}),
    ("POST", "/console/queue/claim", {}, {"analyst", "supervisor"}),
    ("POST", "/console/cases/1/claim", {}, {"analyst", "supervisor"}),
    ("GET", "/console/workload", None, {"supervisor"}),
    ("GET", "/console/search?q=matrix", None, {"analyst", "supervisor"}),
    ("POST", "/console/bulk/preview", {"ids": "1", "action": "note", "note": "n"}, {"analyst", "supervisor"}),
    ("GET", "/console/cases/1/followups", None, {"analyst", "supervisor"}),
    ("POST", "/console/cases/1/followups", {"question": "which page?"}, {"analyst", "supervisor"}),
    ("POST", "/console/cases/1/referrals", {"agency": "PTA"}, {"analyst", "supervisor"}),
    ("POST", "/console/cases/1/checks", {"result": "removed"}, {"analyst", "supervisor"}),
    ("GET", "/console/overview", None, {"analyst", "supervisor", "admin"}),
    ("GET", "/console/export?format=csv", None, {"analyst", "supervisor"}),
    ("GET", "/console/audit", None, {"supervisor", "admin"}),
    ("GET", "/console/support", None, {"counsellor"}),
    ("GET", "/console/support/1", None, {"counsellor", "supervisor", "admin"}),
    ("POST", "/console/support/1/take", {}, {"counsellor", "supervisor", "admin"}),
    ("POST", "/console/support/1/phone", {}, {"counsellor", "supervisor", "admin"}),  # override
    ("POST", "/console/support/1/reply", {"text": "hello"}, {"counsellor"}),
    ("POST", "/console/support/1/close", {}, {"counsellor"}),
    ("GET", "/console/tokens", None, {"admin"}),
    ("POST", "/console/tokens", {"name": "made", "role": "analyst"}, {"admin"}),
    ("POST", "/console/tokens/revoke", {"name": "nobody"}, {"admin"}),
    ("GET", "/console", None, set(ROLES)),
]


async def test_the_role_matrix_holds_on_every_console_route(
    app: Starlette, storage: Storage, tokens: dict[str, str], signed: dict[str, Signed]
) -> None:
    await add_report(storage, "https://facebook.com/matrix")
    gone = await sign_in(app, await Tokens(storage).create("gone", "supervisor"))
    gone_cookie = gone.http.cookies[COOKIE]
    await Tokens(storage).revoke("gone")
    for method, path, form, allowed in ROUTES:
        for who in ROLES:
            response = await (signed[who].get(path) if form is None else signed[who].post(path, form))
            if who in allowed:
                assert response.status_code not in (401, 403), (method, path, who, response.text)
                assert "/console/login" not in response.headers.get("location", ""), (path, who)
            else:
                assert response.status_code == 403, (method, path, who)
                assert f"The {who} role may not use this page." in response.text
        # no session, and a session whose token was revoked: back to sign-in, nothing done
        for reason in ("signin", "revoked"):
            client = browser(app)
            if reason == "revoked":
                client.cookies.set(COOKIE, gone_cookie, path="/console")
            if form is None:
                response = await client.get(path)
                assert response.status_code == 303, (path, reason)
                assert response.headers["location"].startswith(f"/console/login?reason={reason}")
            else:
                response = await client.post(path, data={"csrf": gone.csrf, **form})
                assert response.status_code == 401, (path, reason)
                assert "Sign in again" in response.text
            await client.aclose()
    await gone.aclose()


async def test_counsellors_see_only_support_and_analysts_never_see_it(signed: dict[str, Signed]) -> None:
    support = await signed["counsellor"].get("/console/support")
    assert 'href="/console/support"' in support.text
    assert 'href="/console/queue"' not in support.text and 'href="/console/overview"' not in support.text
    home = await signed["counsellor"].get("/console")
    assert home.headers["location"] == "/console/support"
    for role in ("analyst", "supervisor", "admin"):
        page = await signed[role].get("/console/overview")
        assert "/console/support" not in page.text
        assert (await signed[role].get("/console/support")).status_code == 403


async def test_sign_in_sets_a_strict_http_only_session_cookie(app: Starlette, tokens: dict[str, str]) -> None:
    http = browser(app)
    page = await http.get("/console/login")
    assert '<input id="token" name="token"' in page.text
    [csrf] = CSRF.findall(page.text)
    nonce_cookie = page.headers["set-cookie"]
    assert (
        "HttpOnly" in nonce_cookie and "SameSite=strict" in nonce_cookie and "Path=/console" in nonce_cookie
    )
    bad = await http.post("/console/login", data={"token": "rbt_wrong", "csrf": csrf})
    assert bad.status_code == 401 and "unknown or revoked" in bad.text
    done = await http.post("/console/login", data={"token": tokens["analyst"], "csrf": csrf})
    assert done.status_code == 303 and done.headers["location"] == "/console/queue"
    cookie = next(c for c in done.headers.get_list("set-cookie") if c.startswith(f"{COOKIE}="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain http in development
    assert re.search(r"Max-Age=28[78]\d\d\b", cookie) and ABSOLUTE == 28800
    assert tokens["analyst"] not in cookie and digest(tokens["analyst"]) in str(
        Sessions(SECRET.encode()).decode(cookie.split(";")[0].split("=", 1)[1])
    )
    await http.aclose()


async def test_the_cookie_is_secure_behind_https_and_in_production(
    settings: Settings, storage: Storage, tokens: dict[str, str]
) -> None:
    for base, env in (("https://testserver", "development"), ("http://testserver", "production")):
        production = load_settings(**{**settings.model_dump(), "env": env, "secret_key": SECRET})
        http = browser(create_app(production, storage), base)
        page = await http.get("/console/login")
        assert "Secure" in page.headers["set-cookie"]
        [csrf] = CSRF.findall(page.text)
        http.cookies.set("raabta_console_login", page.cookies["raabta_console_login"], path="/console")
        done = await http.post("/console/login", data={"token": tokens["admin"], "csrf": csrf})
        assert done.status_code == 303, done.text
        cookie = next(c for c in done.headers.get_list("set-cookie") if c.startswith(f"{COOKIE}="))
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
        await http.aclose()


async def test_every_console_response_carries_the_security_headers(
    app: Starlette, signed: dict[str, Signed]
) -> None:
    anonymous = browser(app)
    responses = [
        await anonymous.get("/console/login"),
        await anonymous.get("/console/queue"),
        await anonymous.post("/console/login", data={}),
        await anonymous.get("/console/static/console.js"),
        await anonymous.get("/console/static/htmx.min.js"),
        await signed["analyst"].get("/console/queue"),
        await signed["analyst"].get("/console/cases/999"),
        await signed["analyst"].get("/console/support"),
        await signed["admin"].get("/console/tokens"),
        await signed["analyst"].get("/console/overview"),
    ]
    for response in responses:
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
    for response in responses[:3] + responses[5:]:
        assert response.headers["cache-control"] == "no-store"
    js = responses[3]
    assert (
        js.headers["content-type"].startswith("text/javascript") and "max-age" in js.headers["cache-control"]
    )
    assert (await anonymous.get("/console/static/nope.js")).status_code == 404
    assert (await anonymous.get("/console/static/..%2Fweb.py")).status_code == 404
    # no page has inline script or inline event handlers
    for response in responses:
        if response.headers.get("content-type", "").startswith("text/html"):
            assert not re.search(r"<script(?![^>]*\bsrc=)", response.text), response.url
            assert not re.search(r"\son[a-z]+\s*=", response.text), response.url
            assert "style=" not in response.text
    await anonymous.aclose()


async def test_every_post_needs_this_sessions_csrf_token_and_a_same_site_origin(
    app: Starlette, storage: Storage, signed: dict[str, Signed]
) -> None:
    await add_report(storage, "https://facebook.com/csrf")
    analyst, other = signed["analyst"], signed["analyst2"]
    assert analyst.csrf != other.csrf
    http = analyst.http
    refused = [
        await http.post("/console/queue/claim", data={}),
        await http.post("/console/queue/claim", data={"csrf": "0" * 64}),
        await http.post("/console/queue/claim", data={"csrf": other.csrf}),
        await http.post("/console/queue/claim", json={"csrf": analyst.csrf}),
        await http.post(
            "/console/queue/claim", data={"csrf": analyst.csrf}, headers={"Origin": "https://evil.example"}
        ),
        await http.post("/console/queue/claim", data={"csrf": analyst.csrf}, headers={"Origin": "null"}),
        await http.post(
            "/console/queue/claim",
            data={"csrf": analyst.csrf},
            headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "same-origin"},
        ),
        await http.post(
            "/console/queue/claim", data={"csrf": analyst.csrf}, headers={"Sec-Fetch-Site": "cross-site"}
        ),
        await http.post(
            "/console/queue/claim", data={"csrf": analyst.csrf}, headers={"Sec-Fetch-Site": "same-site"}
        ),
    ]
    for response in refused:
        assert response.status_code == 403, response.text
        assert "Refused" in response.text
    [case] = await storage_cases(storage)
    assert case["status"] == "new"  # nothing was claimed
    # what Chromium sends for the console's own forms under Referrer-Policy: no-referrer
    chromium_headers = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}
    ok = await analyst.post("/console/queue/claim", headers=chromium_headers)
    assert ok.status_code == 303 and ok.headers["location"].startswith("/console/cases/")
    # the sign-in form has its own token, bound to a nonce cookie
    fresh = browser(app)
    no_nonce = await fresh.post("/console/login", data={"token": "x", "csrf": analyst.csrf})
    assert no_nonce.status_code == 403 and "sign-in form was out of date" in no_nonce.text
    await fresh.get("/console/login")
    assert (await fresh.post("/console/login", data={"token": "x", "csrf": "0" * 64})).status_code == 403
    await fresh.aclose()


async def storage_cases(storage: Storage) -> list[dict[str, object]]:
    from storage.queue import CaseFilter, Queue

    return (await Queue(storage).list_cases(CaseFilter(), 200)).items


async def test_sessions_expire_and_forged_cookies_are_refused(app: Starlette, tokens: dict[str, str]) -> None:
    now = int(time.time())
    sessions = Sessions(SECRET.encode())
    token_hash = digest(tokens["analyst"])
    expired = [
        Session(token_hash, "s1", now - ABSOLUTE - 10, now - 60),  # 8 hours after sign-in
        Session(token_hash, "s2", now - 2 * IDLE, now - IDLE - 10),  # an hour idle
        Session(token_hash, "s3", now, now + 3600),  # from the future
    ]
    for session in expired:
        http = browser(app)
        http.cookies.set(COOKIE, sessions.encode(session), path="/console")
        response = await http.get("/console/queue")
        assert response.status_code == 303
        assert response.headers["location"].startswith("/console/login?reason=expired")
        cleared = response.headers["set-cookie"]
        assert f'{COOKIE}=""' in cleared and "Max-Age=0" in cleared
        await http.aclose()
    good = sessions.encode(Session(token_hash, "s4", now - 600, now - 120))
    forged = [
        good[:-2] + ("AA" if not good.endswith("AA") else "BB"),
        Sessions(b"another secret of thirty-two characters!").encode(Session(token_hash, "s5", now, now)),
        "garbage",
    ]
    for value in forged:
        http = browser(app)
        http.cookies.set(COOKIE, value, path="/console")
        response = await http.get("/console/queue")
        assert response.headers["location"].startswith("/console/login?reason=invalid"), value
        await http.aclose()
    # a live session two minutes idle is refreshed (sliding idle window), but not by background polling
    http = browser(app)
    http.cookies.set(COOKIE, good, path="/console")
    polled = await http.get("/console/queue/lanes", headers={"HX-Request": "true"})
    assert polled.status_code == 200 and "set-cookie" not in polled.headers
    response = await http.get("/console/queue")
    assert response.status_code == 200
    refreshed = sessions.decode(response.cookies[COOKIE])
    assert refreshed is not None and refreshed.seen >= now and refreshed.issued == now - 600
    await http.aclose()


async def test_revoking_a_token_signs_its_sessions_out_at_once(
    storage: Storage, signed: dict[str, Signed]
) -> None:
    analyst = signed["analyst"]
    assert (await analyst.get("/console/queue")).status_code == 200
    await Tokens(storage).revoke("analyst")
    response = await analyst.get("/console/queue")
    assert response.status_code == 303 and "reason=revoked" in response.headers["location"]
    assert 'raabta_console=""' in response.headers["set-cookie"]
    analyst.http.cookies.set(COOKIE, "x", path="/console")
    fragment = await analyst.http.get("/console/queue/lanes", headers={"HX-Request": "true"})
    assert fragment.status_code == 401 and fragment.headers["hx-redirect"].startswith("/console/login")


async def test_sign_out_ends_the_session_and_next_is_kept_inside_the_console(
    app: Starlette, tokens: dict[str, str], signed: dict[str, Signed]
) -> None:
    supervisor = signed["supervisor"]
    out = await supervisor.post("/console/logout")
    assert out.status_code == 303 and out.headers["location"] == "/console/login?reason=signed_out"
    assert 'raabta_console=""' in out.headers["set-cookie"]
    assert (await supervisor.get("/console/queue")).headers["location"].startswith("/console/login")
    login = await supervisor.get("/console/login?reason=signed_out")
    assert "You have signed out." in login.text
    # after signing in, back to where the session ended; never to another site
    http = browser(app)
    gone = await http.get("/console/cases/7?x=1")
    assert gone.headers["location"] == "/console/login?reason=signin&next=%2Fconsole%2Fcases%2F7%3Fx%3D1"
    for target, expected in (
        ("/console/overview", "/console/overview"),
        ("//evil.example/", "/console/queue"),
    ):
        page = await http.get("/console/login", params={"next": target})
        [csrf] = CSRF.findall(page.text)
        done = await http.post(
            "/console/login", data={"token": tokens["analyst"], "csrf": csrf, "next": target}
        )
        assert done.headers["location"] == expected
        http.cookies.delete(COOKIE)
    await http.aclose()
