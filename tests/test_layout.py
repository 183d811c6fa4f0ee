"""The architecture as tests: the layers import one way (encoders -> index -> recommender -> app), the
subsystems inside ``recommender`` one way (ranking -> explain, evaluation -> the API), and no module imports
itself through others, counting imports inside functions too (they still tie the modules together)."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("encoders", "index", "recommender", "app")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The cinefuse modules ``path`` imports, anywhere in the file (``from pkg import mod`` counts as ``pkg.mod``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] not in PACKAGES:
                continue
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in modules else node.module)
    return found


def import_graph() -> dict[str, set[str]]:
    """Every cinefuse module and the cinefuse modules it imports."""
    modules = _modules()
    return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def _layer(module: str, order: tuple[str, ...]) -> int:
    return next(i for i, prefix in enumerate(order) if module == prefix or module.startswith(prefix + "."))


def test_the_graph_sees_the_known_arrows() -> None:
    graph = import_graph()
    assert "index.errors" in graph["index.config"]
    assert "encoders.errors" in graph["encoders.base"]
    assert "recommender.api" in graph["recommender"]  # ``from recommender import api`` inside a function


@pytest.mark.parametrize("order", [PACKAGES])
def test_layers_import_only_downwards(order: tuple[str, ...]) -> None:
    upward = [f"{m} -> {d}" for m, deps in import_graph().items() for d in deps if _layer(d, order) > _layer(m, order)]
    assert upward == [], "a lower layer imports a higher one: " + "; ".join(sorted(upward))


def test_recommender_subsystems_import_one_way() -> None:
    order = ("recommender.ranking", "recommender.explain", "recommender.evaluation", "recommender")
    graph = {m: d for m, d in import_graph().items() if m.startswith("recommender.")}
    upward = [f"{m} -> {d}" for m, deps in graph.items() for d in deps
              if d.startswith("recommender.") and _layer(d, order) > _layer(m, order)]
    assert upward == [], "; ".join(sorted(upward))


def test_no_import_cycles() -> None:
    graph = import_graph()
    packages = {m for m, p in _modules().items() if p.name == "__init__.py"}
    # a package's __init__ re-exporting its own modules is not a cycle: drop arrows into a package from inside it
    edges = {m: {d for d in deps if not (d in packages and m.startswith(d + "."))} for m, deps in graph.items()}
    try:
        tuple(graphlib.TopologicalSorter(edges).static_order())
    except graphlib.CycleError as err:
        pytest.fail(f"import cycle: {' -> '.join(err.args[1])}")


def test_the_wheel_ships_every_package() -> None:
    import tomllib

    from setuptools import find_packages

    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    shipped = set(find_packages(str(ROOT), include=include))
    on_disk = {_module_name(p) for pkg in PACKAGES for p in (ROOT / pkg).rglob("__init__.py")}
    assert on_disk <= shipped, f"not in the wheel: {sorted(on_disk - shipped)}"
