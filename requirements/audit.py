"""The dependency audit behind `make audit` (README, "Dependencies"): pip-audit over the lock files, and
never a silent pass.

pip-audit asks an advisory database about each pinned release: PyPI's JSON API (a release's page there
lists its known vulnerabilities) or OSV's. Where neither answers, pip-audit does not fail: against PyPI
it marks every release "Dependency not found on PyPI and could not be audited", prints "No known
vulnerabilities found" and exits 0; against OSV it ends on a connection error. So this script reads
pip-audit's JSON report and tells three outcomes apart:

- every release of a lock file checked by one database, none vulnerable: exit 0;
- a release with a known vulnerability: its name, version, advisory and the fixed versions; exit 1, always;
- a release not checked (no database answered for it): "dependency audit NOT RUN: ..." with the reasons;
  exit 3, or 0 with the same words when AUDIT_OPTIONAL=1 (CI, on a machine that may reach no database).

Usage: python requirements/audit.py requirements/runtime.lock requirements/dev.lock
Environment: AUDIT_OPTIONAL=1 (see above); AUDIT_IGNORE="GHSA-... PYSEC-..." advisories accepted for now
(each passed to pip-audit's --ignore-vuln; say why in the commit that sets it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

OK, VULNERABLE, NOT_RUN = 0, 1, 3
SERVICES = ("pypi", "osv")  # PyPI first; OSV when PyPI cannot answer for every release
NAMES = {"pypi": "PyPI", "osv": "OSV"}
HEADLINE = "dependency audit NOT RUN: the advisory database (PyPI/OSV) is unreachable from here"

# (service, lock file, advisories to ignore) -> (exit status, stdout, stderr)
Runner = Callable[[str, str, Sequence[str]], tuple[int, str, str]]


def pip_audit(service: str, lock: str, ignore: Sequence[str]) -> tuple[int, str, str]:
    """pip-audit against one database, reading the lock file as it is (pinned and hashed: no resolving)."""
    command = [sys.executable, "-m", "pip_audit", "--disable-pip", "--require-hashes", "-r", lock]
    command += ["--vulnerability-service", service, "--format", "json", "--progress-spinner", "off"]
    command += ["--timeout", "20", *(f"--ignore-vuln={advisory}" for advisory in ignore)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=900)  # noqa: S603
    return done.returncode, done.stdout, done.stderr


@dataclass
class Finding:
    """What one database said about one lock file."""

    service: str
    checked: dict[str, str] = field(default_factory=dict)  # name -> version
    skipped: dict[str, str] = field(default_factory=dict)  # name -> why
    vulns: list[str] = field(default_factory=list)  # one line each
    failure: str = ""  # pip-audit gave no report: its last words


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip() and "Location 'file:" not in line]
    return (lines[-1] if lines else "no output")[:300]


def read_report(service: str, status: int, stdout: str, stderr: str) -> Finding:
    finding = Finding(service)
    try:
        report: Any = json.loads(stdout)
        dependencies = report["dependencies"]
    except (ValueError, KeyError, TypeError):
        finding.failure = f"pip-audit exited {status}: {last_line(stderr or stdout)}"
        return finding
    for dependency in dependencies:
        name = str(dependency.get("name", "?"))
        if "skip_reason" in dependency:
            finding.skipped[name] = str(dependency["skip_reason"])
            continue
        version = str(dependency.get("version", "?"))
        finding.checked[name] = version
        for vuln in dependency.get("vulns") or []:
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed release yet"
            aliases = ", ".join(vuln.get("aliases") or [])
            also = f" ({aliases})" if aliases else ""
            finding.vulns.append(f"{name} {version}: {vuln.get('id', '?')}{also}, fixed in {fixed}")
    if not dependencies:
        finding.failure = "pip-audit reported no releases at all"
    return finding


def skipped_summary(finding: Finding) -> str:
    if finding.failure:
        return finding.failure
    # pip-audit's reasons read "<why>: <name> (<version>)"
    reasons = sorted({reason.rpartition(": ")[0] or reason for reason in finding.skipped.values()})
    example = next(iter(finding.skipped.values())).rpartition(": ")[2]
    total = len(finding.skipped) + len(finding.checked)
    return f"{len(finding.skipped)} of {total} releases not checked: {'; '.join(reasons)} (e.g. {example})"


def audit(locks: Sequence[str], optional: bool, ignore: Sequence[str], run: Runner, out: Any) -> int:
    vulnerable: list[str] = []
    not_run: list[str] = []
    for lock in locks:
        tried: list[Finding] = []
        for service in SERVICES:
            finding = read_report(service, *run(service, lock, ignore))
            tried.append(finding)
            vulnerable += [f"{lock}: {line}" for line in finding.vulns if f"{lock}: {line}" not in vulnerable]
            if not finding.failure and not finding.skipped:
                break
        complete = [f for f in tried if not f.failure and not f.skipped]
        if complete:
            done = complete[0]
            name = NAMES.get(done.service, done.service)
            verdict = "see below" if done.vulns else "no known vulnerabilities"
            checked = f"{len(done.checked)} releases checked against {name}"
            out.write(f"dependency audit: {lock}: {checked}: {verdict}\n")
        else:
            not_run.append(f"  {lock}:")
            not_run += [f"    {NAMES.get(f.service, f.service)}: {skipped_summary(f)}" for f in tried]
    if vulnerable:
        count = len(vulnerable)
        out.write(f"dependency audit FAILED: {count} known vulnerabilities in the locked releases\n")
        out.writelines(f"  {line}\n" for line in vulnerable)
        out.write("  upgrade: make lock UPGRADE='--upgrade-package NAME', then make audit again\n")
    if not_run:
        out.write(f"{HEADLINE}\n")
        out.writelines(f"{line}\n" for line in not_run)
        if optional:
            out.write("  AUDIT_OPTIONAL=1: not failing for it, but these releases were NOT audited\n")
    if vulnerable:
        return VULNERABLE
    if not_run and not optional:
        return NOT_RUN
    return OK


def main(argv: Sequence[str] | None = None, run: Runner = pip_audit) -> int:
    locks = list(sys.argv[1:] if argv is None else argv)
    if not locks:
        sys.stderr.write("usage: audit.py LOCK_FILE...\n")
        return 2
    optional = os.environ.get("AUDIT_OPTIONAL", "").strip().lower() in {"1", "true", "yes"}
    ignore = os.environ.get("AUDIT_IGNORE", "").replace(",", " ").split()
    status = audit(locks, optional, ignore, run, sys.stdout)
    sys.stdout.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())
