"""Whether an optional dependency is installed, without importing it."""

from __future__ import annotations

import sys

from tpsmm.extras import installed


def test_installed_looks_without_importing(monkeypatch):
    assert installed("numpy")
    assert not installed("tpsmm_no_such_module")
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    assert installed("colorsys") and "colorsys" not in sys.modules


def test_a_module_hidden_as_none_is_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "numpy", None)
    assert not installed("numpy")
