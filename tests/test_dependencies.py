"""Pinned, audited dependencies (issue 21): the lock files, the installs that use them, and the audit.

- The lock files pin what pyproject.toml asks for, every release with its hashes; the runtime lock holds
  no dev tool, and the dev lock keeps the runtime's pins (the tests run on the releases that ship).
- `make install` (tests) and `make run` install from them with hashes checked and resolve nothing more;
  the Makefile before issue 21 (`pip install -e '.[dev]'`) fails the same check.
- `make audit` (requirements/audit.py) never passes in silence: pip-audit's own "No known
  vulnerabilities found" over releases it could not look up is NOT RUN, a vulnerability fails even where
  the audit is optional, and CI runs it with AUDIT_OPTIONAL=1 before the tests. pip-audit is faked here
  (its JSON report, as captured from the real one): the tests must not depend on the network.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import io
import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = ROOT / "requirements" / "runtime.lock"
DEV = ROOT / "requirements" / "dev.lock"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)")


def pins(path: Path) -> dict[str, tuple[str, int]]:
    """A lock file's pins: canonical name -> (version, number of hashes)."""
    found: dict[str, tuple[str, int]] = {}
    name = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        pin = PIN.match(line)
        if pin:
            name = canonicalize_name(pin["name"])
            found[name] = (pin["version"], 0)
        elif name and "--hash=sha256:" in line:
            version, hashes = found[name]
            found[name] = (version, hashes + line.count("--hash=sha256:"))
        elif not line.startswith(" "):
            name = ""
    return found


def unlocked(requirements: Sequence[str], locked: dict[str, tuple[str, int]]) -> list[str]:
    """Requirements the lock does not pin, or pins at a version they do not allow."""
    problems = []
    for text in requirements:
        requirement = Requirement(text)
        pinned = locked.get(canonicalize_name(requirement.name))
        if pinned is None:
            problems.append(f"{requirement.name} is not in the lock")
        elif not requirement.specifier.contains(pinned[0], prereleases=True):
            problems.append(f"{requirement.name}: {pinned[0]} does not satisfy {requirement.specifier}")
    return problems


def test_the_runtime_lock_pins_every_runtime_dependency_with_hashes() -> None:
    locked = pins(RUNTIME)
    assert unlocked(PROJECT["dependencies"], locked) == []
    assert [name for name, (_, hashes) in locked.items() if hashes == 0] == []
    assert "make lock" in RUNTIME.read_text(encoding="utf-8").splitlines()[1]  # the documented command


def test_the_runtime_lock_holds_no_dev_tool() -> None:
    runtime_names = {canonicalize_name(Requirement(r).name) for r in PROJECT["dependencies"]}
    tools = {canonicalize_name(Requirement(r).name) for r in PROJECT["optional-dependencies"]["dev"]}
    assert (tools - runtime_names) & set(pins(RUNTIME)) == set()


def test_the_dev_lock_adds_the_dev_extra_and_keeps_the_runtime_pins() -> None:
    runtime, dev = pins(RUNTIME), pins(DEV)
    assert unlocked(PROJECT["dependencies"] + PROJECT["optional-dependencies"]["dev"], dev) == []
    assert {name: dev.get(name, ("missing", 0))[0] for name in runtime} == {
        name: version for name, (version, _) in runtime.items()
    }
    assert [name for name, (_, hashes) in dev.items() if hashes == 0] == []


def test_the_tests_run_on_the_locked_runtime_releases() -> None:
    """`make install` put exactly the runtime lock's releases where the tests import them from."""
    installed = {}
    for name in pins(RUNTIME):
        try:
            installed[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed[name] = "not installed"
    assert installed == {name: version for name, (version, _) in pins(RUNTIME).items()}


def test_the_checks_catch_a_dependency_missing_from_the_lock() -> None:
    locked = pins(RUNTIME)
    assert unlocked(["left-pad>=1.0"], locked) == ["left-pad is not in the lock"]
    assert unlocked(["starlette<0.40"], locked) == [
        f"starlette: {locked['starlette'][0]} does not satisfy <0.40"
    ]


# --- the Makefile's installs ------------------------------------------------------------------------------


def unpinned_installs(commands: Sequence[str]) -> list[str]:
    """pip installs that resolve: neither a hashed lock file nor --no-deps."""
    installs = [c.strip() for c in commands if re.search(r"\bpip install\b", c)]
    return [
        c
        for c in installs
        if "--no-deps" not in c.split() and not re.search(r"--require-hashes -r requirements/\w+\.lock", c)
    ]


def dry_run(tmp_path: Path, *targets: str) -> list[str]:
    """What `make -n` would run for the targets, in a copy of the tree's build files (nothing installed),
    one command a line (a recipe's continued lines joined)."""
    if not (tmp_path / "Makefile").exists():
        for name in ("Makefile", "pyproject.toml"):
            shutil.copy(ROOT / name, tmp_path / name)
        shutil.copytree(ROOT / "requirements", tmp_path / "requirements")
    done = subprocess.run(
        ["make", "-n", *targets], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True
    )
    return [" ".join(c.split()) for c in done.stdout.replace("\\\n", " ").splitlines()]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_install_and_make_run_install_from_the_locks_only(tmp_path: Path) -> None:
    install = dry_run(tmp_path, "install")
    assert unpinned_installs(install) == []
    assert ".venv/bin/python -m pip install --quiet --require-hashes -r requirements/dev.lock" in install
    assert ".venv/bin/python -m pip install --quiet --no-deps -e ." in install
    run = dry_run(tmp_path, "run")
    assert unpinned_installs(run) == []
    assert ".venv-run/bin/python -m pip install --quiet --require-hashes -r requirements/runtime.lock" in run
    assert not any("dev.lock" in c or c.startswith(".venv/") for c in run)  # no dev tool beside the server
    assert any(c.startswith(".venv-run/bin/raabta serve") for c in run)
    audit = dry_run(tmp_path, "audit")
    assert any(
        c.endswith("/bin/python requirements/audit.py requirements/runtime.lock requirements/dev.lock")
        for c in audit
    )


def test_the_install_before_issue_21_is_caught() -> None:
    before = [
        ".venv/bin/python -m pip install --quiet --upgrade pip",
        ".venv/bin/python -m pip install --quiet -e '.[dev]'",
    ]
    assert unpinned_installs(before) == before


def test_ci_audits_before_the_tests_and_says_when_it_could_not() -> None:
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    assert "make audit AUDIT_OPTIONAL=1" in lines
    assert lines.index("make audit AUDIT_OPTIONAL=1") < lines.index("make test")


# --- the audit ------------------------------------------------------------------------------------------


def audit_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "raabta_dependency_audit", ROOT / "requirements" / "audit.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


AUDIT = audit_module()
RELEASES = [("aiolimiter", "1.2.1"), ("starlette", "1.10.0"), ("uvicorn", "0.55.0")]
# pip-audit on a machine where PyPI serves packages but not its per-release JSON: exit 0, nothing checked.
PYPI_UNREACHABLE = (
    0,
    json.dumps(
        {
            "dependencies": [
                {
                    "name": n,
                    "skip_reason": f"Dependency not found on PyPI and could not be audited: {n} ({v})",
                }
                for n, v in RELEASES
            ],
            "fixes": [],
        }
    ),
    "No known vulnerabilities found\n",
)
OSV_UNREACHABLE = (
    1,
    "",
    "Traceback (most recent call last):\n  ...\nrequests.exceptions.ConnectionError: "
    "HTTPSConnectionPool(host='osv', port=443): Failed to resolve 'osv'\n",
)


def report(vulns: dict[str, list[dict[str, Any]]] | None = None, skipped: Sequence[str] = ()) -> str:
    dependencies: list[dict[str, Any]] = []
    for name, version in RELEASES:
        if name in skipped:
            dependencies.append({"name": name, "skip_reason": f"Dependency not found on PyPI: {name}"})
        else:
            dependencies.append({"name": name, "version": version, "vulns": (vulns or {}).get(name, [])})
    return json.dumps({"dependencies": dependencies, "fixes": []})


STARLETTE_CVE = {
    "id": "GHSA-f96h-pmfr-66vw",
    "fix_versions": ["0.40.0"],
    "aliases": ["CVE-2024-47874"],
    "description": "multipart/form-data without a size limit",
}


class FakeAudit:
    def __init__(self, **answers: tuple[int, str, str]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str, tuple[str, ...]]] = []

    def __call__(self, service: str, lock: str, ignore: Sequence[str]) -> tuple[int, str, str]:
        self.calls.append((service, lock, tuple(ignore)))
        return self.answers[service]


def audited(fake: FakeAudit, optional: bool = False, ignore: Sequence[str] = ()) -> tuple[int, str]:
    out = io.StringIO()
    status = AUDIT.audit(["requirements/runtime.lock"], optional, ignore, fake, out)
    return status, out.getvalue()


def test_an_unreachable_database_is_not_a_pass() -> None:
    fake = FakeAudit(pypi=PYPI_UNREACHABLE, osv=OSV_UNREACHABLE)
    assert fake("pypi", "x", ())[0] == 0  # pip-audit itself says all is well
    status, out = audited(fake)
    assert status == AUDIT.NOT_RUN == 3
    assert out.startswith(
        "dependency audit NOT RUN: the advisory database (PyPI/OSV) is unreachable from here\n"
    )
    assert "PyPI: 3 of 3 releases not checked: Dependency not found on PyPI and could not be audited" in out
    assert "OSV: pip-audit exited 1: requests.exceptions.ConnectionError" in out


def test_an_optional_audit_still_says_it_did_not_run() -> None:
    status, out = audited(FakeAudit(pypi=PYPI_UNREACHABLE, osv=OSV_UNREACHABLE), optional=True)
    assert status == 0
    assert "dependency audit NOT RUN" in out and "were NOT audited" in out


def test_a_known_vulnerability_fails_even_an_optional_audit() -> None:
    fake = FakeAudit(pypi=(1, report({"starlette": [STARLETTE_CVE]}), ""), osv=OSV_UNREACHABLE)
    status, out = audited(fake, optional=True)
    assert status == AUDIT.VULNERABLE == 1
    assert "dependency audit FAILED: 1 known vulnerabilities" in out
    assert "starlette 1.10.0: GHSA-f96h-pmfr-66vw (CVE-2024-47874), fixed in 0.40.0" in out
    assert [service for service, *_ in fake.calls] == ["pypi"]  # PyPI answered for every release


def test_a_complete_clean_audit_passes_and_says_against_what() -> None:
    fake = FakeAudit(pypi=(0, report(), ""), osv=OSV_UNREACHABLE)
    status, out = audited(fake)
    assert status == 0
    assert out == (
        "dependency audit: requirements/runtime.lock: 3 releases checked against PyPI: "
        "no known vulnerabilities\n"
    )


def test_osv_answers_when_pypi_cannot() -> None:
    fake = FakeAudit(pypi=PYPI_UNREACHABLE, osv=(0, report(), ""))
    status, out = audited(fake)
    assert status == 0 and "3 releases checked against OSV" in out and "NOT RUN" not in out


def test_one_release_left_unchecked_is_not_a_pass() -> None:
    fake = FakeAudit(pypi=(0, report(skipped=["uvicorn"]), ""), osv=OSV_UNREACHABLE)
    status, out = audited(fake)
    assert status == AUDIT.NOT_RUN
    assert "PyPI: 1 of 3 releases not checked" in out


def test_accepted_advisories_are_passed_to_pip_audit(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeAudit(pypi=(0, report(), ""), osv=OSV_UNREACHABLE)
    monkeypatch.setenv("AUDIT_IGNORE", "GHSA-aaaa-bbbb-cccc, PYSEC-2024-1")
    monkeypatch.delenv("AUDIT_OPTIONAL", raising=False)
    assert AUDIT.main(["requirements/runtime.lock"], run=fake) == 0
    assert fake.calls == [("pypi", "requirements/runtime.lock", ("GHSA-aaaa-bbbb-cccc", "PYSEC-2024-1"))]
