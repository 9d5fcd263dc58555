"""The import rules of ARCHITECTURE.md, held true: dependencies point down and inward.

- the domain (``robot``, ``beacons``, ``dialogue``, ``scheduler``) and ``clock`` never
  import ``hw_sim`` or ``onthaal``;
- ``hw_sim`` may import the domain's public types, never ``onthaal``;
- ``clock`` imports nothing of the project.

Every import counts, also one inside a function: a late import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PROJECT = {"robot", "beacons", "dialogue", "scheduler", "clock", "hw_sim", "onthaal"}
FORBIDDEN = {
    "robot": {"hw_sim", "onthaal"},
    "beacons": {"hw_sim", "onthaal"},
    "dialogue": {"hw_sim", "onthaal"},
    "scheduler": {"hw_sim", "onthaal"},
    "clock": PROJECT - {"clock"},
    "hw_sim": {"onthaal"},
}


def _imported_packages(source: Path) -> set[str]:
    """The top-level packages ``source`` imports (relative imports stay inside)."""
    found = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"), str(source))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_only_what_the_architecture_allows(package: str) -> None:
    files = sorted((REPO / package).rglob("*.py"))
    assert files, f"{package}/ has no Python files"
    broken = [
        f"{source.relative_to(REPO)} imports {name}"
        for source in files
        for name in sorted(_imported_packages(source) & FORBIDDEN[package])
    ]
    assert broken == []
