"""One copy of the paging machinery: the only code that reads `@odata.nextLink` is the Graph pager
(shared/graph/paging.py) and the Commerce/Dataverse OData transport (shared/commerce/transport.py);
every other collection read goes through them."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGERS = {"shared/graph/paging.py", "shared/commerce/transport.py"}


def next_link_readers(where: Path, root: Path = ROOT) -> set[str]:
    """Files below `where` whose code (not docstrings or comments) names `@odata.nextLink`,
    relative to `root`."""
    found: set[str] = set()
    for path in where.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and "@odata.nextLink" in node.value
                and id(node) not in docstrings
            ):
                found.add(str(path.relative_to(root)))
    return found


def test_only_the_pagers_follow_next_links() -> None:
    assert next_link_readers(ROOT / "shared") | next_link_readers(ROOT / "functions") == PAGERS


def test_the_check_sees_a_hand_written_loop(tmp_path: Path) -> None:
    planted = tmp_path / "loop.py"
    planted.write_text('"""Follows @odata.nextLink."""\nurl = page.get("@odata.nextLink")\n')
    doc_only = tmp_path / "doc.py"
    doc_only.write_text('"""Follows @odata.nextLink."""\n')
    assert next_link_readers(tmp_path, tmp_path) == {"loop.py"}
