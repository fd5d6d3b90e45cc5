"""The package keeps to its sides: each folder imports only what its rules allow, both ways.

- ``core`` (settings, catalogue, roles, states, errors, the runner contract) imports
  nothing else of the package: every process can import it.
- ``image`` (pure image work) imports ``core`` only.
- ``weights`` (sources, store, fp16) imports ``core`` only.
- ``runner`` imports ``core`` and ``weights``, never ``front`` or ``image``.
- ``front`` imports ``core`` and ``image``, never ``runner`` or ``weights``: the front
  service starts in a second and carries no model library's memory.

The rules are read from every module's imports (function-level ones included), and the
front's rule is also checked on a real ``import service``.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_python

PACKAGE = ROOT / "wizpix"
ALLOWED = {
    "core": {"core"},
    "image": {"core", "image"},
    "weights": {"core", "weights"},
    "runner": {"core", "weights", "runner"},
    "front": {"core", "image", "front"},
}
MODEL_LIBRARIES = {"onnxruntime", "rembg", "onnx", "huggingface_hub", "openvino"}


def _side(module: str) -> str | None:
    """``wizpix.front.cutter`` → ``front``; the package root (its version) belongs to none."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "wizpix" and (PACKAGE / parts[1]).is_dir() else None


def _imports(path: Path) -> set[str]:
    module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module.removesuffix(".__init__")
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the module's own package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            found |= {f"{target}.{alias.name}" for alias in node.names}
    return {name for name in found if name.startswith("wizpix.")}


def _modules(side: str) -> list[Path]:
    return sorted((PACKAGE / side).rglob("*.py"))


def test_every_module_of_the_package_sits_in_a_side() -> None:
    loose = [p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"]
    assert not loose, f"modules outside core/image/weights/runner/front: {loose}"
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"} == set(ALLOWED)


@pytest.mark.parametrize("side", sorted(ALLOWED))
def test_a_side_imports_only_what_its_rule_allows(side: str) -> None:
    crossings = []
    for path in _modules(side):
        for name in _imports(path):
            target = _side(name)
            if target is not None and target not in ALLOWED[side]:
                crossings.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not crossings, "\n".join(crossings)


def test_no_side_is_imported_by_a_side_it_may_not_see() -> None:
    """The same rules read the other way: who imports each side."""
    importers: dict[str, set[str]] = {side: set() for side in ALLOWED}
    for side in ALLOWED:
        for path in _modules(side):
            for name in _imports(path):
                if (target := _side(name)) in importers:
                    importers[target].add(side)
    assert importers["runner"] <= {"runner"}, importers["runner"]
    assert importers["weights"] <= {"weights", "runner"}, importers["weights"]
    assert importers["front"] <= {"front"}, importers["front"]
    assert importers["image"] <= {"image", "front"}, importers["image"]


def test_importing_the_service_loads_nothing_of_the_runner_side() -> None:
    script = (
        "import json, sys, service; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{sorted({'wizpix', *MODEL_LIBRARIES})!r})))"
    )
    loaded = set(json.loads(run_python(script).splitlines()[-1]))
    assert "wizpix.front.cutter" in loaded and "wizpix.core.roles" in loaded
    runner_side = {m for m in loaded if _side(m) in ("runner", "weights")}
    assert not runner_side, runner_side
    assert not {m.split(".")[0] for m in loaded} & MODEL_LIBRARIES
