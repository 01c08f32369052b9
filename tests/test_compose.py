"""docker-compose.yml (issue 10): services, ports and environment names agree with the code and the docs.

The file is read as data (PyYAML), never run: the app and PostgreSQL services (and Rasa under its profile),
the published port against `raabta serve --port`, the database's named volume, and every environment name
given to the app against the settings model (`bot/config.py`: its fields and env_prefix). Each check returns
the problems it found, so the negative cases below can show that a misspelt name would fail the suite.
Issue 21 adds two: the app installs only what requirements/runtime.lock pins (hashes checked), and it
believes X-Forwarded-For only from the gateway its published port is reached through, never from `*`
(tests/test_trusted_proxy.py shows on a real server what `*` would let a citizen do).
"""

from __future__ import annotations

import copy
import ipaddress
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from bot.shared.config import Settings, load_settings, secret_key

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DEPLOYMENT = ROOT / "docs" / "deployment.md"
# Names the app may be given that are not settings: uvicorn reads this one itself (the proxy it trusts).
NOT_SETTINGS = frozenset({"FORWARDED_ALLOW_IPS"})
# What docs/deployment.md asks for in .env before the first `docker compose up`.
DOT_ENV = {
    "RAABTA_SECRET_KEY": "SeT8UcbfK3VatQmpQ_QWInoHBrM9hD-fotOaN4hUoK7Q1FqC",  # token_urlsafe(36)
    "POSTGRES_PASSWORD": "a-database-password",
}
WEBHOOK_ENV = {
    "RAABTA_TELEGRAM_TOKEN": "123456:ABC-test",
    "RAABTA_TELEGRAM_WEBHOOK_URL": "https://bot.example.org/webhooks/telegram",
    "RAABTA_TELEGRAM_WEBHOOK_SECRET": "a-long-random-string_0123456789",
}
VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def load_compose(path: Path = COMPOSE) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name}: not a mapping"
    return data


def setting_names() -> frozenset[str]:
    """RAABTA_* names the settings model reads: its env_prefix and each field's name, upper-cased."""
    prefix = Settings.model_config.get("env_prefix", "")
    return frozenset(f"{prefix}{name}".upper() for name in Settings.model_fields)


def services(compose: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    found = compose.get("services")
    return found if isinstance(found, dict) else {}


def environment(service: Mapping[str, Any]) -> dict[str, str | None]:
    """A service's environment in either compose form; None for a name listed without a value."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = [str(item).partition("=") for item in env]
        return {name: (value if sep else None) for name, sep, value in pairs}
    return {str(name): (None if value is None else str(value)) for name, value in env.items()}


def interpolate(value: str, dot_env: Mapping[str, str]) -> str:
    """Compose's `${NAME}`, `${NAME:-default}` and `${NAME:?error}` against a .env; $$ is a dollar."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"] or ""
        given = dot_env.get(name)
        unset = given is None or (op is not None and op.startswith(":") and given == "")
        if op in (":?", "?") and unset:
            raise LookupError(f"{name} is required: {arg}")
        if op in (":-", "-") and unset:
            return arg
        return given or ""

    return VARIABLE.sub(one, value.replace("$$", "\0")).replace("\0", "$")


def container_env(service: Mapping[str, Any], dot_env: Mapping[str, str]) -> dict[str, str]:
    """What the container sees: values interpolated; names without a value passed from .env when set there."""
    env: dict[str, str] = {}
    for name, value in environment(service).items():
        if value is None:
            if name in dot_env:
                env[name] = dot_env[name]
        else:
            env[name] = interpolate(value, dot_env)
    return env


def settings_from(env: Mapping[str, str]) -> Settings:
    """The settings `raabta serve` would load from this environment (names outside the model ignored)."""
    prefix = str(Settings.model_config.get("env_prefix", ""))
    fields = {name[len(prefix) :].lower(): value for name, value in env.items() if name in setting_names()}
    return load_settings(**fields)


def postgres_name(compose: Mapping[str, Any]) -> str | None:
    """The PostgreSQL service: the one running a postgres image."""
    names = [n for n, s in services(compose).items() if str(s.get("image", "")).startswith("postgres")]
    return names[0] if len(names) == 1 else None


def command_text(service: Mapping[str, Any]) -> str:
    command = service.get("command") or ""
    return " ".join(str(part) for part in command) if isinstance(command, list) else str(command)


def container_ports(service: Mapping[str, Any]) -> list[int]:
    """The container ports a service publishes, in the short ("127.0.0.1:8080:8080") or long syntax."""
    ports = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            ports.append(int(entry["target"]))
        else:
            ports.append(int(str(entry).split("/")[0].rsplit(":", 1)[-1]))
    return ports


def depends_on(service: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    needs = service.get("depends_on") or {}
    return (
        {str(n): {} for n in needs}
        if isinstance(needs, list)
        else {str(n): dict(c or {}) for n, c in needs.items()}
    )


# --- the checks: each returns its problems ---------------------------------------------------------------


def service_problems(compose: Mapping[str, Any]) -> list[str]:
    problems = []
    found = services(compose)
    if "app" not in found:
        problems.append("no app service")
    database = postgres_name(compose)
    if database is None:
        problems.append("not exactly one service runs a postgres image")
    else:
        volumes = [str(v).split(":")[0] for v in found[database].get("volumes") or [] if isinstance(v, str)]
        named = [v for v in volumes if v in (compose.get("volumes") or {})]
        if not named:
            problems.append(f"{database}: its data is not on a named volume")
        if "healthcheck" not in found[database]:
            problems.append(f"{database}: no healthcheck for the app to wait on")
    app = found.get("app", {})
    needs = depends_on(app)
    if database is not None and database not in needs:
        problems.append(f"app: does not depend on {database}")
    elif database is not None and needs[database].get("condition") != "service_healthy":
        problems.append(f"app: does not wait until {database} is healthy")
    if "rasa" in found:
        if "rasa" not in (found["rasa"].get("profiles") or []):
            problems.append("rasa: not under the rasa profile (it must stay optional)")
        if "rasa" in needs:
            problems.append("app: depends on the optional rasa service")
    return problems


def port_problems(compose: Mapping[str, Any]) -> list[str]:
    app = services(compose).get("app", {})
    command = command_text(app)
    serve = re.search(r"raabta serve\b(?P<args>[^&;|]*)", command)
    if serve is None:
        return ["app: the command does not run `raabta serve`"]
    port = re.search(r"--port[= ](\d+)", serve["args"])
    host = re.search(r"--host[= ](\S+)", serve["args"])
    serve_port = int(port.group(1)) if port else 8080  # `raabta serve`'s default
    problems = []
    if not host or host.group(1) != "0.0.0.0":  # inside the container, for the published port
        problems.append("app: `raabta serve` must listen on 0.0.0.0 inside the container")
    if container_ports(app) != [serve_port]:
        problems.append(f"app: publishes {container_ports(app)}, `raabta serve` listens on {serve_port}")
    check = " ".join(str(x) for x in (app.get("healthcheck") or {}).get("test") or [])
    if f":{serve_port}/healthz" not in check:
        problems.append(f"app: the healthcheck does not ask :{serve_port}/healthz")
    return problems


def environment_problems(compose: Mapping[str, Any]) -> list[str]:
    """Every name given to the app is a setting (or allowed explicitly), and every setting can be given."""
    app = services(compose).get("app", {})
    names = set(environment(app))
    known = setting_names()
    problems = [f"app: {n} is not a setting of bot/config.py" for n in sorted(names - known - NOT_SETTINGS)]
    problems += [f"app: setting {n} cannot be passed from .env" for n in sorted(known - names)]
    return problems


def required_problems(compose: Mapping[str, Any]) -> list[str]:
    """Production needs a secret key (refused at `compose up` when missing) and the PostgreSQL URL."""
    app = services(compose).get("app", {})
    problems = []
    try:
        container_env(app, {k: v for k, v in DOT_ENV.items() if k != "RAABTA_SECRET_KEY"})
        problems.append("app: starts without RAABTA_SECRET_KEY (use ${RAABTA_SECRET_KEY:?...})")
    except LookupError:
        pass
    try:
        settings = settings_from(container_env(app, DOT_ENV))
    except (LookupError, SystemExit) as exc:
        return [*problems, f"app: the settings do not load from the compose environment: {exc}"]
    if settings.env != "production":
        problems.append("app: RAABTA_ENV is not production")
    if settings.secret_key is None:
        problems.append("app: RAABTA_SECRET_KEY is not set")
    database = postgres_name(compose)
    on_postgres = settings.database_url.startswith("postgresql+asyncpg://")
    if not on_postgres or urlsplit(settings.database_url).hostname != database:
        problems.append(f"app: RAABTA_DATABASE_URL does not point at the {database} service")
    if DOT_ENV["POSTGRES_PASSWORD"] not in settings.database_url:
        problems.append("app: RAABTA_DATABASE_URL does not use POSTGRES_PASSWORD")
    webhook = settings_from(container_env(app, {**DOT_ENV, **WEBHOOK_ENV}))
    if None in (webhook.telegram_token, webhook.telegram_webhook_url, webhook.telegram_webhook_secret):
        problems.append("app: Telegram webhook mode cannot be configured from .env")
    return problems


def install_problems(compose: Mapping[str, Any]) -> list[str]:
    """The app installs the runtime lock with its hashes, then itself without dependencies: nothing that
    the lock does not pin reaches the container (and none of the dev tools)."""
    command = command_text(services(compose).get("app", {}))
    installs = [part.strip() for part in re.split(r"&&|\|\||;", command) if "pip install" in part]
    locked = [
        part
        for part in installs
        if "--require-hashes" in part.split() and re.search(r"-r\s+\S*requirements/runtime\.lock\b", part)
    ]
    problems = [] if locked else ["app: does not install requirements/runtime.lock with --require-hashes"]
    problems += [
        f"app: `{part}` installs dependencies the lock does not pin"
        for part in installs
        if part not in locked and "--no-deps" not in part.split()
    ]
    return problems


def gateways(compose: Mapping[str, Any], service: Mapping[str, Any]) -> set[str]:
    """The fixed gateways (ipam) of the networks a service is on; the default network when it names none."""
    networks = service.get("networks") or ["default"]
    found: set[str] = set()
    for name in networks:
        network = (compose.get("networks") or {}).get(name) or {}
        for config in (network.get("ipam") or {}).get("config") or []:
            if isinstance(config, dict) and config.get("gateway"):
                found.add(str(config["gateway"]))
    return found


def published_on(service: Mapping[str, Any]) -> list[str]:
    """The host addresses a service's ports are published on ("" for all of them)."""
    hosts = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            hosts.append(str(entry.get("host_ip", "")))
        else:
            parts = str(entry).split(":")
            hosts.append(parts[0] if len(parts) == 3 else "")
    return hosts


def proxy_problems(compose: Mapping[str, Any]) -> list[str]:
    """uvicorn believes X-Forwarded-For only from FORWARDED_ALLOW_IPS. In the compose file that must be
    exactly the gateway of the app's network: connections to a port published on the host's 127.0.0.1
    arrive from there, so it is the host's reverse proxy. `*` would believe anyone, and uvicorn then takes
    the left-most address, the one a citizen writes."""
    app = services(compose).get("app", {})
    trusted = container_env(app, DOT_ENV).get("FORWARDED_ALLOW_IPS")
    if not trusted:
        return ["app: FORWARDED_ALLOW_IPS is not set: every citizen would count as the proxy"]
    entries = [entry.strip() for entry in trusted.split(",")]
    if "*" in entries:
        return ["app: FORWARDED_ALLOW_IPS is `*`: a forged X-Forwarded-For is believed"]
    problems = []
    for entry in entries:
        try:
            if ipaddress.ip_network(entry, strict=False).num_addresses > 1:
                problems.append(f"app: FORWARDED_ALLOW_IPS trusts the whole network {entry}")
        except ValueError:
            problems.append(f"app: FORWARDED_ALLOW_IPS holds {entry!r}, not an address")
    expected = gateways(compose, app)
    if not expected:
        problems.append("app: its network has no fixed gateway (ipam), so the proxy's address is unknown")
    elif set(entries) != expected:
        problems.append(
            f"app: FORWARDED_ALLOW_IPS trusts {trusted}, the proxy arrives from {sorted(expected)}"
        )
    if any(host != "127.0.0.1" for host in published_on(app)):
        problems.append(
            "app: a port published beyond the host's 127.0.0.1 reaches it from the trusted gateway"
        )
    return problems


def docs_problems(compose: Mapping[str, Any], docs: str) -> list[str]:
    return [
        f"{DEPLOYMENT.name} does not name the `{n}` service"
        for n in services(compose)
        if f"`{n}`" not in docs
    ]


CHECKS: dict[str, Callable[[Mapping[str, Any]], list[str]]] = {
    "services": service_problems,
    "ports": port_problems,
    "environment": environment_problems,
    "required": required_problems,
    "install": install_problems,
    "proxy": proxy_problems,
}


# --- the compose file as shipped ----------------------------------------------------------------------------


@pytest.mark.parametrize("check", CHECKS)
def test_the_compose_file_passes(check: str) -> None:
    assert CHECKS[check](load_compose()) == []


def test_the_deployment_guide_names_every_service() -> None:
    compose = load_compose()
    assert {"app", "rasa"} <= set(services(compose)) and postgres_name(compose)
    assert docs_problems(compose, DEPLOYMENT.read_text(encoding="utf-8")) == []


def test_the_compose_environment_gives_a_production_app_its_keys() -> None:
    app = services(load_compose())["app"]
    settings = settings_from(container_env(app, {**DOT_ENV, **WEBHOOK_ENV}))
    assert secret_key(settings) == DOT_ENV["RAABTA_SECRET_KEY"].encode()
    assert settings.telegram_webhook_url == WEBHOOK_ENV["RAABTA_TELEGRAM_WEBHOOK_URL"]
    assert settings.telegram_token is not None and settings.telegram_webhook_secret is not None
    unset = settings_from(container_env(app, DOT_ENV))
    assert unset.telegram_token is None and unset.messenger_page_token is None  # no empty values passed


def test_the_settings_names_come_from_the_model() -> None:
    names = setting_names()
    assert {"RAABTA_SECRET_KEY", "RAABTA_DATABASE_URL", "RAABTA_TELEGRAM_WEBHOOK_SECRET"} <= names
    assert all(n.startswith("RAABTA_") and n == n.upper() for n in names)


# --- the checks can fail --------------------------------------------------------------------------------


def renamed(old: str, new: str) -> dict[str, Any]:
    """The compose file with one of the app's environment names changed (as a maintainer might mistype it)."""
    compose = copy.deepcopy(load_compose())
    env = compose["services"]["app"]["environment"]
    compose["services"]["app"]["environment"] = {(new if k == old else k): v for k, v in env.items()}
    return compose


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("RAABTA_TELEGRAM_WEBHOOK_SECRET", "RAABTA_TELEGRAM_WEBHOOK_SECERT"),
        ("RAABTA_RETENTION_DAYS", "RAABTA_RETENTION"),
        ("RAABTA_MESSENGER_APP_SECRET", "RAABTA_MESENGER_APP_SECRET"),
        ("RAABTA_DATA_DIR", "RAABTA_DATADIR"),
        ("FORWARDED_ALLOW_IPS", "FORWARDED_ALLOWED_IPS"),
    ],
)
def test_a_misspelt_name_is_caught(old: str, new: str) -> None:
    problems = environment_problems(renamed(old, new))
    assert f"app: {new} is not a setting of bot/config.py" in problems
    if old != "FORWARDED_ALLOW_IPS":
        assert f"app: setting {old} cannot be passed from .env" in problems


def test_a_misspelt_name_in_the_list_form_is_caught() -> None:
    compose = copy.deepcopy(load_compose())
    env = environment(compose["services"]["app"])
    compose["services"]["app"]["environment"] = [
        f"{'RAABTA_SECRETKEY' if k == 'RAABTA_SECRET_KEY' else k}" + ("" if v is None else f"={v}")
        for k, v in env.items()
    ]
    assert "app: RAABTA_SECRETKEY is not a setting of bot/config.py" in environment_problems(compose)
    assert any("RAABTA_SECRET_KEY" in p for p in required_problems(compose))


def test_wrong_ports_volumes_and_dependencies_are_caught() -> None:
    compose = copy.deepcopy(load_compose())
    app = compose["services"]["app"]
    app["ports"] = ["127.0.0.1:8080:8000"]
    assert any("publishes [8000]" in p for p in port_problems(compose))
    database = postgres_name(compose)
    assert database is not None
    compose["services"][database]["volumes"] = ["./pgdata:/var/lib/postgresql/data"]
    del app["depends_on"]
    compose["services"]["rasa"].pop("profiles")
    problems = service_problems(compose)
    assert f"{database}: its data is not on a named volume" in problems
    assert f"app: does not depend on {database}" in problems
    assert "rasa: not under the rasa profile (it must stay optional)" in problems
    assert docs_problems(compose, "only `app` here") == [
        f"deployment.md does not name the `{database}` service",
        "deployment.md does not name the `rasa` service",
    ]


def test_interpolation_follows_compose() -> None:
    assert interpolate("${A:-x}/${B-y}/$${C}", {"A": "", "B": ""}) == "x//${C}"
    with pytest.raises(LookupError, match="A is required: set it"):
        interpolate("${A:?set it}", {})


def test_the_deployment_guide_explains_the_trusted_proxy() -> None:
    docs = DEPLOYMENT.read_text(encoding="utf-8")
    [gateway] = gateways(load_compose(), services(load_compose())["app"])
    assert "FORWARDED_ALLOW_IPS" in docs and f"`{gateway}`" in docs
    assert "left-most" in docs and "right-most" in docs


def with_app(**changes: Any) -> dict[str, Any]:
    compose = copy.deepcopy(load_compose())
    compose["services"]["app"].update(changes)
    return compose


@pytest.mark.parametrize(
    ("command", "problem"),
    [
        (  # the compose file before issue 21: whatever versions PyPI had that day
            'sh -c "pip install --quiet /app && raabta serve --host 0.0.0.0 --port 8080"',
            "app: does not install requirements/runtime.lock with --require-hashes",
        ),
        (
            "pip install -r /app/requirements/runtime.lock && pip install --no-deps /app && raabta serve",
            "app: does not install requirements/runtime.lock with --require-hashes",
        ),
        (
            'sh -c "pip install --require-hashes -r /app/requirements/dev.lock && raabta serve"',
            "app: does not install requirements/runtime.lock with --require-hashes",
        ),
        (
            "pip install --require-hashes -r /app/requirements/runtime.lock && pip install /app",
            "app: `pip install /app` installs dependencies the lock does not pin",
        ),
    ],
)
def test_an_install_outside_the_lock_is_caught(command: str, problem: str) -> None:
    assert problem in install_problems(with_app(command=command))


def test_trusting_any_proxy_or_the_wrong_one_is_caught() -> None:
    def trusting(value: str) -> dict[str, Any]:
        compose = copy.deepcopy(load_compose())
        compose["services"]["app"]["environment"]["FORWARDED_ALLOW_IPS"] = value
        return compose

    before = "${FORWARDED_ALLOW_IPS:-*}"  # the compose file before issue 21
    assert proxy_problems(trusting(before)) == [
        "app: FORWARDED_ALLOW_IPS is `*`: a forged X-Forwarded-For is believed"
    ]
    assert any(
        "the proxy arrives from" in p for p in proxy_problems(trusting("${FORWARDED_ALLOW_IPS:-10.9.8.7}"))
    )
    assert "app: FORWARDED_ALLOW_IPS trusts the whole network 172.28.0.0/24" in proxy_problems(
        trusting("172.28.0.0/24")
    )
    assert proxy_problems(trusting("")) == [
        "app: FORWARDED_ALLOW_IPS is not set: every citizen would count as the proxy"
    ]
    unpinned = copy.deepcopy(load_compose())
    del unpinned["networks"]
    assert (
        "app: its network has no fixed gateway (ipam), so the proxy's address is unknown"
        in proxy_problems(unpinned)
    )
    assert (
        "app: a port published beyond the host's 127.0.0.1 reaches it from the trusted gateway"
        in proxy_problems(with_app(ports=["8080:8080"]))
    )
