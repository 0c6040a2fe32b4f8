"""An on-disk cache for generated data sets and trained models (the preface, "Scale profiles").

Case studies generate their data with our own code and train their models when the book is built.
Both can take minutes, so they are stored under ``~/.cache/implicit_edu`` (or the folder named by
``IMPLICIT_EDU_CACHE``). Set ``IMPLICIT_EDU_CACHE=off`` to disable the cache (everything is
recomputed, nothing is written).

**What a stored artefact is keyed on.** Each artefact (a data set, a pretrained denoiser, one
trained model) is keyed on two things, so that a stale file is never served:

* *its own settings*: the fields of the configuration it depends on, which its case study
  declares once in its ``config`` module (for instance ``MODEL_SETTINGS`` of the linear programs),
  and nothing else, so that changing an evaluation setting retrains nothing;
* *its code*: :func:`code_hash` of the module that produces it and of every module of the package
  that module imports, directly or not, so that editing that code makes it anew.

:func:`keyed` builds the key, and with it the *view* of the configuration that the producer is
given: a copy in which every setting outside the key is replaced by an :class:`Unkeyed`
placeholder, which raises :class:`UnkeyedSettingError` as soon as it is used. So a producer cannot
depend on a setting that is not in its key: if its code starts to read one, it fails at once
(saying which setting to add to the declaration) instead of serving results made with another
value.

The code hash is deliberately coarse: a whole module counts, not just the functions that run, and
editing any line of code in a module an artefact's producer imports (the runtime helpers included)
makes it anew. Comments, docstrings and blank lines do not count. The ``config`` modules are the
exception: their values are in the keys as data, so only the code of their classes' methods
counts (a property such as ``channels`` that training reads), not their defaults, their profile
tables or what they import. Not in any key: files that are not Python modules of the package
(scikit-image's photographs of the deblurring data; Huginn's prompts are keyed by their text) and
the versions of the libraries (torch, cvxpy, ...): after upgrading those, clear the cache.

Arrays are stored with :func:`numpy.savez` and read back without pickles; model weights with
:func:`torch.save` and read back with ``weights_only=True``.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import functools
import hashlib
import inspect
import io
import json
import os
import tokenize
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

CACHE_VARIABLE = "IMPLICIT_EDU_CACHE"

#: The package whose modules :func:`code_hash` follows.
PACKAGE = "implicit_edu"
_PACKAGE_DIR = Path(__file__).resolve().parents[1]


def cache_dir() -> Path | None:
    """The cache folder, or ``None`` when ``IMPLICIT_EDU_CACHE=off``."""
    value = os.environ.get(CACHE_VARIABLE, "").strip()
    if value.lower() in {"off", "0", "none", "false"}:
        return None
    return Path(value).expanduser() if value else Path.home() / ".cache" / "implicit_edu"


def _plain(value: Any) -> Any:
    """A JSON-ready copy of a configuration (dataclasses, tuples, numpy scalars allowed)."""
    if isinstance(value, Unkeyed):
        raise UnkeyedSettingError(value.name, "is not a setting of this key")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    raise TypeError(
        f"cannot key the cache on a {type(value).__name__}; "
        "use numbers, strings, lists, dicts or dataclasses of them"
    )


def config_key(name: str, config: Any) -> str:
    """``name-<16 hex digits>``: a stable key for ``config`` (a dict or a dataclass)."""
    text = json.dumps(_plain(config), sort_keys=True)
    return f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


# ----------------------------------------------------------------------------- settings


class UnkeyedSettingError(Exception):
    """A producer of a cached artefact used a setting that its cache key does not contain."""

    def __init__(self, name: str, what: str = "was used") -> None:
        super().__init__(
            f"the setting {name!r} {what}, but it is not part of the cache key of the artefact "
            "being made: add it to the settings that artefact is declared to depend on (the "
            "case study's config module), or stop reading it there"
        )


def _refuse(name: str) -> Callable[..., Any]:
    def refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise UnkeyedSettingError(self.name, f"was used ({name})")

    refuse.__name__ = name
    return refuse


class Unkeyed:
    """The placeholder of a setting that is not in a cache key (see :func:`keyed_view`).

    It can be held and passed on, but any use of its value (arithmetic, comparison, truth,
    iteration, conversion, formatting, attribute access) raises :class:`UnkeyedSettingError`.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "name", name)

    def __repr__(self) -> str:
        return f"<setting {self.name} (not in this cache key)>"

    def __reduce__(self) -> tuple[type, tuple[str]]:  # worker processes receive views
        return (Unkeyed, (self.name,))

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        raise UnkeyedSettingError(self.name, f"was used (.{attribute})")

    def __setattr__(self, attribute: str, value: Any) -> None:
        raise UnkeyedSettingError(self.name, "was assigned to")


for _name in (
    "__bool__ __len__ __iter__ __contains__ __getitem__ __index__ __int__ __float__ __complex__ "
    "__eq__ __ne__ __lt__ __le__ __gt__ __ge__ __hash__ __str__ __format__ __call__ __array__ "
    "__neg__ __pos__ __abs__ __round__ __trunc__ __floor__ __ceil__ __invert__ "
    "__add__ __radd__ __sub__ __rsub__ __mul__ __rmul__ __truediv__ __rtruediv__ __floordiv__ "
    "__rfloordiv__ __mod__ __rmod__ __divmod__ __rdivmod__ __pow__ __rpow__ __matmul__ "
    "__rmatmul__ __and__ __rand__ __or__ __ror__ __xor__ __rxor__ __lshift__ __rshift__"
).split():
    setattr(Unkeyed, _name, _refuse(_name))
del _name


def _split(fields: Iterable[str]) -> tuple[set[str], dict[str, list[str]]]:
    """Field names kept whole, and the dotted names under each nested field."""
    if isinstance(fields, str):
        raise TypeError(
            f"give the settings as a sequence of field names, not the string {fields!r}"
        )
    whole: set[str] = set()
    nested: dict[str, list[str]] = {}
    for name in fields:
        head, dot, rest = name.partition(".")
        if dot:
            nested.setdefault(head, []).append(rest)
        else:
            whole.add(head)
    return whole, nested


def _check_fields(config: Any, names: Iterable[str], prefix: str) -> None:
    if not (dataclasses.is_dataclass(config) and not isinstance(config, type)):
        raise TypeError(f"settings are read from a dataclass, got {type(config).__name__}")
    known = {f.name for f in dataclasses.fields(config)}
    for name in names:
        if name not in known:
            raise ValueError(f"{type(config).__name__} has no setting {prefix + name!r}")


def settings_of(config: Any, fields: Iterable[str]) -> dict[str, Any]:
    """``{name: value}`` of the named settings of a dataclass ``config``.

    A dotted name (``"data.grid"``) reaches into a nested dataclass; the name of a nested
    dataclass (``"model"``) stands for all of it. An unknown name is an error.
    """
    return _settings_of(config, fields, "")


def _settings_of(config: Any, fields: Iterable[str], prefix: str) -> dict[str, Any]:
    whole, nested = _split(fields)
    _check_fields(config, whole | set(nested), prefix)
    values = {f"{prefix}{name}": _plain(getattr(config, name)) for name in sorted(whole)}
    for name, rest in sorted(nested.items()):
        if name not in whole:
            values.update(_settings_of(getattr(config, name), rest, f"{prefix}{name}."))
    return values


def keyed_view(config: Any, fields: Iterable[str]) -> Any:
    """A copy of the dataclass ``config`` that keeps only the named settings (as in
    :func:`settings_of`); every other field holds an :class:`Unkeyed` placeholder."""
    return _view(config, fields, "")


def _view(config: Any, fields: Iterable[str], prefix: str) -> Any:
    whole, nested = _split(fields)
    _check_fields(config, whole | set(nested), prefix)
    view = copy.copy(config)
    for field in dataclasses.fields(config):
        if field.name in whole:
            continue
        value = getattr(config, field.name)
        if field.name in nested:
            value = _view(value, nested[field.name], f"{prefix}{field.name}.")
        else:
            value = Unkeyed(f"{prefix}{field.name}")
        object.__setattr__(view, field.name, value)  # frozen dataclasses too; no validation
    return view


def _dataclass_modules(config: Any) -> set[str]:
    """The modules that define ``config``'s class and those of its nested dataclasses."""
    if not (dataclasses.is_dataclass(config) and not isinstance(config, type)):
        return set()
    modules = {type(config).__module__}
    for field in dataclasses.fields(config):
        modules |= _dataclass_modules(getattr(config, field.name))
    return modules


def keyed(config: Any, fields: Iterable[str], *producers: Any, **extra: Any) -> tuple[Any, dict]:
    """The view of ``config`` that a producer may read, and the cache key of what it makes.

    ``fields`` are the settings the artefact depends on (:func:`settings_of`); ``producers`` the
    modules, functions or classes that make it (:func:`code_hash`; the modules that define the
    configuration's classes count as settings modules); ``extra`` the job's own arguments (kind,
    seed, ...). Returns ``(view, key)`` with ``view = keyed_view(config, fields)`` and ``key =
    {"settings": ..., "code": ..., **extra}``. Give the producer the view, never ``config``.
    """
    key = {
        "settings": settings_of(config, fields),
        "code": code_hash(*producers, settings=tuple(_dataclass_modules(config))),
        **extra,
    }
    return keyed_view(config, fields), key


# ----------------------------------------------------------------------------- code


def _module_file(name: str) -> Path | None:
    """The file of a module of the package (``None`` for anything else)."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = _PACKAGE_DIR.joinpath(*parts[1:])
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _module_source(name: str) -> str:
    """The source of a module of the package, read now (not when it was imported)."""
    path = _module_file(name)
    if path is None:
        raise ValueError(f"{name} is not a module of {PACKAGE}")
    return path.read_text(encoding="utf-8")


@functools.lru_cache(maxsize=512)
def _imports(name: str, source: str) -> frozenset[str]:
    """The modules of the package that module ``name`` imports anywhere (functions included)."""
    tree = ast.parse(source)
    path = _module_file(name)
    package = name if path is not None and path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if _module_file(alias.name)}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            if _module_file(base) is None:
                continue
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if _module_file(submodule) else base)
    found.discard(name)
    return frozenset(found)


def package_modules(*producers: Any, settings: Iterable[str] = ()) -> list[str]:
    """The modules of the package that :func:`code_hash` reads for ``producers``, sorted.

    The producers' own modules and, recursively, every module of the package they import
    (a package's ``__init__`` only where a name is imported from it); the imports of a settings
    module are not followed.
    """
    settings = set(settings)
    todo = [_module_of(p) for p in producers]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name is None or name in seen or _module_file(name) is None:
            continue
        seen.add(name)
        if name not in settings:
            todo.extend(_imports(name, _module_source(name)))
    return sorted(seen)


def _module_of(producer: Any) -> str | None:
    if inspect.ismodule(producer):
        return producer.__name__
    return getattr(producer, "__module__", None)


def _docstring_rows(tree: ast.Module, lines: list[str]) -> set[int]:
    """The rows (1-based) of docstrings that stand on lines of their own."""
    rows: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        first = node.body[0] if node.body else None
        if not (
            isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)
        ):
            continue
        before = lines[first.lineno - 1].encode()[: first.col_offset]  # offsets count bytes
        after = lines[first.end_lineno - 1].encode()[first.end_col_offset :].decode()
        if not before.strip() and not after.split("#")[0].strip():
            rows.update(range(first.lineno, first.end_lineno + 1))
    return rows


def _settings_rows(tree: ast.Module) -> set[int]:
    """The rows of the methods of a settings module's classes (decorators included)."""
    rows: set[int] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    start = min([item.lineno] + [d.lineno for d in item.decorator_list])
                    rows.update(range(start, item.end_lineno + 1))
    return rows


@functools.lru_cache(maxsize=512)
def code_text(source: str, settings: bool = False) -> str:
    """What :func:`code_hash` reads of a module's source: its code without comments, docstrings,
    blank lines and trailing spaces (string literals are kept as they are). With ``settings``,
    only the methods of the module's classes."""
    source = source.replace("\r\n", "\n")
    lines = source.split("\n")
    tree = ast.parse(source)
    dropped = _docstring_rows(tree, lines)
    kept_rows = _settings_rows(tree) if settings else None
    comments: dict[int, int] = {}
    verbatim: set[int] = set()  # rows inside a string that spans lines
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.start[1]
        elif token.start[0] < token.end[0]:
            verbatim.update(range(token.start[0], token.end[0] + 1))
    text = []
    for row, line in enumerate(lines, start=1):
        if row in dropped or (kept_rows is not None and row not in kept_rows):
            continue
        if row in comments:
            line = line[: comments[row]]
        if row not in verbatim:
            line = line.rstrip()
            if not line:
                continue
        text.append(line)
    return "\n".join(text)


def code_hash(*producers: Any, settings: Iterable[str] = ()) -> str:
    """A short hash of the code that makes an artefact.

    For producers in the package (modules, functions or classes): the code (:func:`code_text`)
    of every module :func:`package_modules` lists for them, read from disk now. ``settings``
    names the settings modules, of which only the classes' methods count. For a producer outside
    the package (a function of a notebook, say): its own source. Put it into a cache key beside
    the settings, so that editing the code that makes an artefact invalidates the stored copy.
    """
    settings = set(settings)
    digest = hashlib.sha256()
    inside = [p for p in producers if _module_file(_module_of(p) or "") is not None]
    for name in package_modules(*inside, settings=settings):
        text = code_text(_module_source(name), settings=name in settings)
        digest.update(f"{name}\n{text}\n".encode())
    for producer in producers:
        if not any(producer is p for p in inside):
            digest.update(inspect.getsource(producer).encode())
    return digest.hexdigest()[:16]


# ----------------------------------------------------------------------------- storage


def cached_arrays(
    name: str, config: Any, build: Callable[[], Mapping[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """The arrays keyed by ``(name, config)``: loaded, or built by ``build()`` and stored."""
    folder = cache_dir()
    path = None if folder is None else folder / f"{config_key(name, config)}.npz"
    if path is not None and path.exists():
        with np.load(path, allow_pickle=False) as stored:
            return {key: stored[key] for key in stored.files}
    arrays = {key: np.asarray(value) for key, value in build().items()}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.npz")
        np.savez(partial, **arrays)
        partial.replace(path)  # atomic: a build interrupted half-way leaves no broken file
    return arrays


def cached_state(name: str, config: Any, build: Callable[[], Mapping[str, Any]]) -> dict[str, Any]:
    """A state dict (tensors, numbers, lists) keyed by ``(name, config)``: loaded, or built.

    ``build()`` typically trains a model and returns
    ``{"model": model.state_dict(), "history": ...}``. The file is read back with
    ``weights_only=True``, so it holds tensors and plain Python values, never arbitrary objects.
    """
    folder = cache_dir()
    path = None if folder is None else folder / f"{config_key(name, config)}.pt"
    if path is not None and path.exists():
        return torch.load(path, map_location="cpu", weights_only=True)
    state = dict(build())
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.pt")
        torch.save(state, partial)
        partial.replace(path)
    return state
