"""Optional dependencies (the extras of pyproject.toml): whether one is installed,
without importing it (an import can take seconds, and a broken one should fail where it
is used, not where it is looked for)."""

from __future__ import annotations

import importlib.util


def installed(module: str) -> bool:
    """Whether the top-level ``module`` can be imported here. A module set to None in
    ``sys.modules`` (what tests do to hide one) counts as not installed."""
    try:
        return importlib.util.find_spec(module) is not None
    except ValueError:
        return False
