"""The package's architecture, checked: five layers that import only downwards, and docstrings
that name every module (implicit_edu/__init__.py describes both)."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import implicit_edu

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
LAYERS = ["exercises", "experiments", "runtime", "analysis", "core"]


def _lint_imports(config: Path) -> subprocess.CompletedProcess:
    if not LINT_IMPORTS.exists():
        pytest.fail(f"{LINT_IMPORTS} is missing: install the dev extra (pip install -e '.[dev]')")
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(config), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_layer_imports_only_from_the_layers_below():
    result = _lint_imports(ROOT / "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_the_layer_contract_catches_an_upward_import(tmp_path: Path):
    # The same contract with the order reversed must break: core is imported by every layer.
    config = tmp_path / "reversed.toml"
    layers = ", ".join(f'"implicit_edu.{name}"' for name in reversed(LAYERS))
    config.write_text(
        '[tool.importlinter]\nroot_package = "implicit_edu"\n\n'
        '[[tool.importlinter.contracts]]\nname = "reversed"\ntype = "layers"\n'
        f"layers = [{layers}]\n"
    )
    result = _lint_imports(config)
    assert result.returncode != 0 and "BROKEN" in result.stdout


def test_the_layers_are_the_packages_top_level_folders():
    folders = {p.name for p in (ROOT / "implicit_edu").iterdir() if (p / "__init__.py").exists()}
    assert folders == set(LAYERS)
    modules = {p.name for p in (ROOT / "implicit_edu").glob("*.py")}
    assert modules == {"__init__.py"}, "modules belong in a layer's folder, not at the top"


def _packages_and_children():
    def walk(package):
        for info in pkgutil.iter_modules(package.__path__):
            if info.name.startswith("_"):
                continue
            child = importlib.import_module(f"{package.__name__}.{info.name}")
            yield package, info.name, child
            if info.ispkg:
                yield from walk(child)

    return list(walk(implicit_edu))


@pytest.mark.parametrize(
    ("package", "name", "module"),
    _packages_and_children(),
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_every_module_has_a_docstring_and_its_package_names_it(package, name, module):
    assert (module.__doc__ or "").strip(), f"{module.__name__} has no docstring"
    assert name in (package.__doc__ or ""), f"{package.__name__}'s docstring does not name {name}"
