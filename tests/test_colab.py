"""The Colab path, tested here: a chapter's ``.ipynb`` twin run as Colab runs it, offline.

Colab opens a twin in a kernel that has the common scientific packages, imports ``google.colab``,
and has no ``implicit_edu``; the hidden first cell (the bootstrap cell that ``tools/notebooks.py``
writes from ``_config.yml``) pip-installs the package, and the chapter then runs to the end.
:func:`test_a_twin_installs_the_package_and_runs_as_on_colab` does exactly that here:

* a fresh virtual environment (``python -m venv --without-pip``) sees this project's third-party
  packages, pip included, through a ``.pth`` file naming a folder of links to every entry of
  ``.venv``'s site-packages except ``implicit_edu``'s (its editable finder and its metadata), so
  ``import implicit_edu`` fails there and pip does not count the package as installed; the test
  checks the first before the notebook runs;
* its kernel starts as Colab's does, ``python -m colab_kernel_launcher``, from a stand-in folder on
  the kernel's ``PYTHONPATH``: the launcher imports a stand-in ``google.colab`` package, so it is in
  ``sys.modules`` as on Colab, and a ``myst_nb`` there cannot be imported (Colab has no Jupyter
  Book, so the chapters print the numbers they glue);
* ``IMPLICIT_EDU_INSTALL_SOURCE``, the bootstrap cell's one setting, points pip at a copy of this
  checkout's package (``pyproject.toml``, ``README.md``, ``implicit_edu/``; a copy, so that the
  build's ``build/`` and ``*.egg-info`` stay out of the working tree); pip runs offline (no
  index, no build isolation: setuptools comes from ``.venv``);
* the twin runs in the ``smoke`` profile with a temporary cache, in a scratch folder (Colab's
  ``/content``), so nothing of the checkout can be imported by accident; a last cell, added to the
  copy that runs, reports where ``implicit_edu`` was imported from.

It took 31 s on two cores (57 s while they were busy with other work), mostly the chapter itself,
so it stays among the fast tests; pip runs offline, so it needs no network.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import nbformat
import pytest

from tools import notebooks

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "book" / "part1" / "one-over-x.ipynb"  # short; imports toy, sympy, ipywidgets
CELL_TIMEOUT_S = 600
_PROBE = """\
import importlib.metadata, json, sys
import implicit_edu
print("PROBE " + json.dumps({
    "file": implicit_edu.__file__,
    "colab": "google.colab" in sys.modules,
    "direct_url": importlib.metadata.distribution("implicit-edu").read_text("direct_url.json"),
}))
"""
_LAUNCHER = """\
# Stand-in for Colab's colab_kernel_launcher: import google.colab, then start the IPython kernel.
import google.colab  # noqa: F401
from ipykernel import kernelapp

kernelapp.launch_new_instance()
"""
_NO_MYST_NB = 'raise ImportError("myst_nb is not installed (as on Colab)")\n'


# ---------------------------------------------------------------------------------------------
# Fast: the bootstrap cell's install source


def _run_bootstrap(source: str, monkeypatch, env_value: str | None) -> list[list[str]]:
    """Execute the bootstrap cell ``source`` as on Colab; return the commands it would run."""
    calls: list[list[str]] = []
    monkeypatch.setitem(sys.modules, "google.colab", type(sys)("google.colab"))
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a, **k: None)
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(cmd))
    if env_value is None:
        monkeypatch.delenv(notebooks.INSTALL_SOURCE_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(notebooks.INSTALL_SOURCE_VARIABLE, env_value)
    exec(compile(source, "<bootstrap>", "exec"), {})
    return calls


def test_bootstrap_installs_from_the_repository_by_default(monkeypatch):
    url, branch = notebooks.repository(ROOT)
    source = notebooks.bootstrap_cell_source(url, branch)
    assert notebooks.INSTALL_SOURCE_VARIABLE in source
    (command,) = _run_bootstrap(source, monkeypatch, None)
    assert command[-1] == f"implicit-edu @ git+{url}@{branch}"
    assert command[:4] == [sys.executable, "-m", "pip", "install"]
    (command,) = _run_bootstrap(source, monkeypatch, "")  # an empty setting is no setting
    assert command[-1] == f"implicit-edu @ git+{url}@{branch}"


def test_bootstrap_installs_from_the_setting_when_it_is_set(monkeypatch, tmp_path):
    source = notebooks.bootstrap_cell_source("https://example.org/x/y", "dev")
    (command,) = _run_bootstrap(source, monkeypatch, str(tmp_path))
    assert command[-1] == str(tmp_path)


def test_bootstrap_does_nothing_off_colab(monkeypatch):
    source = notebooks.bootstrap_cell_source(*notebooks.repository(ROOT))
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("pip ran off Colab"))
    exec(compile(source, "<bootstrap>", "exec"), {})


# ---------------------------------------------------------------------------------------------
# Slow: a twin, top to bottom, in a kernel without implicit_edu


def _site_packages_without_implicit_edu(target: Path) -> Path:
    """A folder of links to every entry of this environment's site-packages but implicit_edu's."""
    purelib = Path(sysconfig.get_paths()["purelib"])
    target.mkdir()
    for entry in purelib.iterdir():
        name = entry.name.lower().replace("-", "_")
        if "implicit_edu" in name or entry.suffix == ".pth":
            continue
        (target / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    return target


def _fresh_venv(tmp_path: Path) -> tuple[Path, Path]:
    """``(python, site_packages)`` of a new virtual environment without implicit_edu."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    farm = _site_packages_without_implicit_edu(tmp_path / "third-party")
    (site / "third_party.pth").write_text(f"{farm}\n", encoding="utf-8")
    return python, site


def _colab_stand_in(folder: Path) -> Path:
    """Colab's kernel launcher, ``google.colab`` and an unimportable ``myst_nb``, in ``folder``."""
    (folder / "google" / "colab").mkdir(parents=True)  # ``google``: a namespace package
    (folder / "google" / "colab" / "__init__.py").write_text('"""Stand-in."""\n')
    (folder / "colab_kernel_launcher.py").write_text(_LAUNCHER)
    (folder / "myst_nb").mkdir()
    (folder / "myst_nb" / "__init__.py").write_text(_NO_MYST_NB)
    return folder


def _package_copy(target: Path) -> Path:
    """What pip installs: the checkout's package and build files, copied to ``target``."""
    target.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, target / name)
    shutil.copytree(
        ROOT / "implicit_edu",
        target / "implicit_edu",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    return target


def test_a_twin_installs_the_package_and_runs_as_on_colab(tmp_path):
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    started = time.perf_counter()
    python, site = _fresh_venv(tmp_path)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "IMPLICIT_EDU_"))}
    probe = subprocess.run(
        [str(python), "-c", "import implicit_edu"], cwd=tmp_path, env=clean, capture_output=True
    )
    assert probe.returncode != 0, "the fresh environment can already import implicit_edu"
    assert b"No module named 'implicit_edu'" in probe.stderr

    stand_in = _colab_stand_in(tmp_path / "colab")
    source = _package_copy(tmp_path / "checkout")
    content = tmp_path / "content"  # the kernel's working folder, as Colab's /content
    content.mkdir()
    kernels = tmp_path / "kernels"
    (kernels / "colab").mkdir(parents=True)
    spec = {
        "argv": [str(python), "-m", "colab_kernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (Colab stand-in)",
        "language": "python",
        "env": {
            "PYTHONPATH": str(stand_in),
            notebooks.INSTALL_SOURCE_VARIABLE: str(source),
            "IMPLICIT_EDU_PROFILE": "smoke",
            "IMPLICIT_EDU_CACHE": str(tmp_path / "cache"),
            "PIP_NO_INDEX": "1",
            "PIP_NO_BUILD_ISOLATION": "0",  # pip reads this as --no-build-isolation
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_CACHE_DIR": str(tmp_path / "pip-cache"),
        },
    }
    (kernels / "colab" / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")

    nb = nbformat.read(CHAPTER, as_version=4)
    assert notebooks._is_bootstrap(nb.cells[[c.cell_type for c in nb.cells].index("code")].source)
    nb.cells.append(nbformat.v4.new_code_cell(_PROBE))
    km = KernelManager(
        kernel_name="colab", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)])
    )
    client = NotebookClient(
        nb, km=km, timeout=CELL_TIMEOUT_S, resources={"metadata": {"path": str(content)}}
    )
    prepared = time.perf_counter()
    client.execute()  # runs in `content`; raises CellExecutionError at the first failing cell
    finished = time.perf_counter()
    print(
        f"Colab simulation of {CHAPTER.name}: set-up {prepared - started:.1f} s, "
        f"install and run {finished - prepared:.1f} s"
    )

    assert not [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.get("ename")]
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
    report = json.loads(text.split("PROBE ", 1)[1])
    assert report["colab"], "google.colab was not imported in the kernel"
    installed = Path(report["file"]).resolve()
    assert installed.is_relative_to(site.resolve()), f"implicit_edu imported from {installed}"
    assert not installed.is_relative_to(ROOT), "the checkout's editable install was imported"
    assert Path(source).as_uri() in report["direct_url"], report["direct_url"]
