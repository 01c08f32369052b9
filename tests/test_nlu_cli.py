"""`raabta nlu eval` and `raabta nlu train`, run as an operator runs them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

RAABTA = [sys.executable, "-m", "bot.cli"]


def run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("RAABTA_")}
    environment.update(env)
    return subprocess.run(
        [*RAABTA, *args], capture_output=True, text=True, env=environment, timeout=120, check=False
    )


def figure(output: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)}: ([0-9.]+)", output, re.M)
    assert match, output
    return float(match.group(1))


def test_eval_prints_the_figures_on_the_test_split() -> None:
    result = run(["nlu", "eval"])
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert figure(out, "intent accuracy") >= 0.95
    assert figure(out, "emergency recall") >= 0.98
    assert figure(out, "self_harm recall") >= 0.98
    assert figure(out, "at_risk_self recall") >= 0.95
    assert figure(out, "language accuracy, two words or more") >= 0.98
    assert figure(out, "intent macro F1") > 0.9
    for heading in (
        "language   accuracy  macro F1",
        "intent               precision",
        "confusion pairs",
        "emergencies missed",
        "self_harm missed",
        "at_risk_self missed",
    ):
        assert heading in out
    for language in ("en", "ur", "ur-Latn"):
        assert re.search(rf"^{re.escape(language)} +[0-9.]+ +[0-9.]+$", out, re.M), language
    assert re.search(r"^emergency +[0-9.]+ +[0-9.]+ +[0-9.]+ +\d+$", out, re.M)


def test_eval_lists_errors_and_reads_another_directory(tmp_path: Path) -> None:
    (tmp_path / "en.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n'
        "    - hello there\n"
        "    - what is the weather\n",
        encoding="utf-8",
    )
    result = run(["nlu", "eval", "--data", str(tmp_path), "--errors"])
    assert result.returncode == 0, result.stderr
    assert "test examples: 2" in result.stdout
    assert "intent accuracy: 0.5000" in result.stdout
    assert "'what is the weather': greet -> out_of_scope" in result.stdout
    bad = run(["nlu", "eval", "--data", str(tmp_path / "missing")])
    assert bad.returncode == 2 and "raabta nlu eval:" in bad.stderr


def test_train_writes_the_cached_model(tmp_path: Path) -> None:
    result = run(["nlu", "train"], XDG_CACHE_HOME=str(tmp_path))
    assert result.returncode == 0, result.stderr
    [model] = list((tmp_path / "raabta").glob("nlu-model-*.npz"))
    assert str(model) in result.stdout
    assert re.search(r"trained on \d{4} examples", result.stdout)
