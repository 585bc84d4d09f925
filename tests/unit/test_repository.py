"""Rules of the repository that no linter checks: each keeps a class of mistake out.

- A test module never imports from another test module: pytest would collect the
  imported tests twice under some selections, and a helper hidden in a test file is
  not found by the next reader. Shared helpers live in modules not named ``test_*``.
- Nothing points outside the repository: a clone has no sibling folders, so a path
  or document named there is a dead link for every user.
- No module of the syncer grows past 320 lines: small modules named for what they
  hold are how a newcomer finds their way (docs/architecture.md).
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 320


def _tracked(*patterns: str) -> list[Path]:
    out = subprocess.run(["git", "ls-files", "--", *patterns], cwd=ROOT, capture_output=True,
                         text=True, check=True, timeout=60).stdout
    return [ROOT / line for line in out.splitlines() if (ROOT / line).exists()]


def test_no_test_module_imports_another() -> None:
    offenders = []
    for path in _tracked("tests/*.py", "tests/**/*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            offenders += [f"{path.relative_to(ROOT)}: {name}" for name in names
                          if name.startswith("tests.")
                          and name.rsplit(".", 1)[-1].startswith("test_")]
    assert offenders == []


def test_nothing_points_outside_the_repository() -> None:
    marker = "../" + "shared"  # split so this file does not match itself
    design = "DESIGN" + ".md"
    hits = [f"{path.relative_to(ROOT)}" for path in _tracked(".")
            if path.is_file() and path.suffix not in {".png", ".gz", ".tar"}
            and path.name != "CHANGELOG.md" and not path.is_relative_to(ROOT / ".ci")
            and (marker in (text := path.read_text(errors="replace")) or design in text)]
    assert hits == []


def test_syncer_modules_stay_small() -> None:
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines())
             for p in _tracked("syncer/*.py", "syncer/**/*.py")}
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}
