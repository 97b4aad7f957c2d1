"""The ops page's inline script parses (a syntax error would silently disable every button)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from shared.ops.page import _JS


def test_the_ops_page_script_is_valid_javascript(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    script = tmp_path / "page.js"
    script.write_text(_JS, encoding="utf-8")
    run = subprocess.run([node, "--check", str(script)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
