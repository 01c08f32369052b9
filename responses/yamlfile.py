"""YAML read with libyaml's C parser when PyYAML has it (the pure-Python one otherwise), the safe subset
either way.

Why: content, training data and the designated list are read at every start of the server and of many
CLI commands; the pure-Python parser took 0.45 s for responses/ alone, the C one 0.06 s (1.4 s of a
`raabta serve` start in all).
"""

from __future__ import annotations

from typing import Any

import yaml

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    """`yaml.safe_load`, through libyaml when it is there; raises yaml.YAMLError as it does."""
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader, C or Python
