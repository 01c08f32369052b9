"""The house rules (DESIGN.md's rooms) as import-linter contracts: they hold on the code, and a forbidden
import breaks them, naming the contract. `make lint` runs the same `lint-imports`."""

from __future__ import annotations

import os
import pkgutil
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
CONTRACTS: dict[str, dict[str, Any]] = {c["id"]: c for c in CONFIG["contracts"]}

# One forbidden import per contract: (module added to a copy of the code, what it imports).
BREACHES = {
    "dialogue-pure": ("bot/dialogue/breach.py", "storage.schema"),
    "nlu-alone": ("nlu/breach.py", "bot.dialogue"),
    "storage-no-chat": ("storage/breach.py", "bot.channels"),
    "channels-no-storage": ("bot/channels/breach.py", "storage.schema"),
    "cyberunit-only-shared": ("cyberunit/breach.py", "bot.pipeline"),
    "shared-no-chat": ("bot/shared/breach.py", "bot.outbox"),
    "responses-data": ("responses/breach.py", "nlu"),
}


def lint(cwd: Path) -> tuple[int, str]:
    """Run lint-imports on the packages under `cwd` with its pyproject.toml; (exit code, flattened output)."""
    args = [str(LINT_IMPORTS), "--no-logo", "--no-cache"]
    # cwd first on the path, so that a copy is analysed rather than the editable install of the repo.
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False)
    return done.returncode, " ".join((done.stdout + done.stderr).split())  # names wrap at 80 columns


def test_every_contract_has_a_breach_below() -> None:
    assert set(BREACHES) == set(CONTRACTS)


def test_the_rooms_hold_on_the_code() -> None:
    code, out = lint(ROOT)
    assert code == 0, out
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in out


def test_a_forbidden_import_breaks_its_contract(tmp_path: Path) -> None:
    def code_only(folder: str, names: list[str]) -> list[str]:
        return [n for n in names if n == "__pycache__" or not (n.endswith(".py") or Path(folder, n).is_dir())]

    for package in CONFIG["root_packages"]:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=code_only)
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    for path, imported in BREACHES.values():
        (tmp_path / path).write_text(f"import {imported}\n")

    code, out = lint(tmp_path)

    assert code == 1, out
    assert f"Contracts: 0 kept, {len(CONTRACTS)} broken." in out
    for contract, (path, imported) in BREACHES.items():
        assert f"{CONTRACTS[contract]['name']} BROKEN" in out
        module = path.removesuffix(".py").replace("/", ".")
        assert f"{module} -> {imported} (l.1)" in out


def test_the_cyberunit_contract_lists_every_module_of_bot_but_shared() -> None:
    """A new module of bot is forbidden to cyberunit until it is listed or moved into bot/shared/."""
    modules = {f"bot.{m.name}" for m in pkgutil.iter_modules([str(ROOT / "bot")])}
    assert set(CONTRACTS["cyberunit-only-shared"]["forbidden_modules"]) == modules - {"bot.shared"}
