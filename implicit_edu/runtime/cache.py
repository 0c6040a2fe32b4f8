"""An on-disk cache for generated data sets and trained models (the preface, "Scale profiles").

Case studies generate their data with our own code and train their models when the book is built.
Both can take minutes, so they are stored under ``~/.cache/implicit_edu`` (or the folder named by
``IMPLICIT_EDU_CACHE``) and keyed by a hash of everything that determines them: change one setting
and the key changes, so a stale file is never reused. Set ``IMPLICIT_EDU_CACHE=off`` to disable the
cache (everything is recomputed, nothing is written).

Arrays are stored with :func:`numpy.savez` and read back without pickles; model weights with
:func:`torch.save` and read back with ``weights_only=True``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

CACHE_VARIABLE = "IMPLICIT_EDU_CACHE"


def cache_dir() -> Path | None:
    """The cache folder, or ``None`` when ``IMPLICIT_EDU_CACHE=off``."""
    value = os.environ.get(CACHE_VARIABLE, "").strip()
    if value.lower() in {"off", "0", "none", "false"}:
        return None
    return Path(value).expanduser() if value else Path.home() / ".cache" / "implicit_edu"


def _plain(value: Any) -> Any:
    """A JSON-ready copy of a configuration (dataclasses, tuples, numpy scalars allowed)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
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


def code_hash(*producers: Any) -> str:
    """A short hash of the source code of ``producers`` (modules, functions or classes).

    Put it into a cache key beside the configuration, so that editing the code that makes an
    artefact invalidates the stored copy, while editing unrelated code does not.
    """
    digest = hashlib.sha256()
    for producer in producers:
        digest.update(inspect.getsource(producer).encode())
    return digest.hexdigest()[:16]


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
