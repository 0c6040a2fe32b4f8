"""The on-disk cache of the case studies: keys, round trips, and the switch that disables it."""

from __future__ import annotations

import copy
import dataclasses
import importlib
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from implicit_edu.runtime import cache


@dataclasses.dataclass
class Config:
    size: int = 3
    rate: float = 0.1


def test_key_depends_on_every_setting():
    assert cache.config_key("a", Config()) == cache.config_key("a", {"rate": 0.1, "size": 3})
    assert cache.config_key("a", Config()) != cache.config_key("a", Config(size=4))
    assert cache.config_key("a", Config()) != cache.config_key("b", Config())


def test_key_refuses_objects_it_cannot_hash():
    with pytest.raises(TypeError, match="cannot key the cache"):
        cache.config_key("a", {"f": object()})


def test_arrays_are_built_once(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.CACHE_VARIABLE, str(tmp_path))
    calls = []

    def build():
        calls.append(1)
        return {"x": np.arange(4.0)}

    first = cache.cached_arrays("data", Config(), build)
    second = cache.cached_arrays("data", Config(), build)
    assert len(calls) == 1
    np.testing.assert_array_equal(first["x"], second["x"])


def test_state_round_trip_and_off_switch(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.CACHE_VARIABLE, str(tmp_path))
    state = cache.cached_state("m", Config(), lambda: {"w": torch.ones(2), "loss": [0.5, 0.25]})
    again = cache.cached_state("m", Config(), lambda: pytest.fail("should have been cached"))
    assert torch.equal(state["w"], again["w"]) and again["loss"] == [0.5, 0.25]

    monkeypatch.setenv(cache.CACHE_VARIABLE, "off")
    calls = []
    cache.cached_state("m", Config(), lambda: calls.append(1) or {"w": torch.zeros(1)})
    cache.cached_state("m", Config(), lambda: calls.append(1) or {"w": torch.zeros(1)})
    assert len(calls) == 2


# ----------------------------------------------------------------------------- the session


def test_the_session_uses_a_fresh_cache(fresh_cache, tmp_path_factory):
    """conftest.py points IMPLICIT_EDU_CACHE at a new folder (unless IMPLICIT_EDU_TEST_CACHE)."""
    if os.environ.get("IMPLICIT_EDU_TEST_CACHE", "").strip():
        pytest.skip("IMPLICIT_EDU_TEST_CACHE is set: the environment's cache is kept")
    assert os.environ[cache.CACHE_VARIABLE] == fresh_cache
    assert cache.cache_dir() == Path(fresh_cache)
    assert Path(fresh_cache).is_relative_to(tmp_path_factory.getbasetemp())


# ----------------------------------------------------------------------------- settings


@dataclasses.dataclass(frozen=True)
class Part:
    width: int = 4
    depth: int = 2


@dataclasses.dataclass(frozen=True)
class Whole:
    lr: float = 0.1
    steps: int = 10
    part: Part = dataclasses.field(default_factory=Part)
    other: Part = dataclasses.field(default_factory=Part)

    def __post_init__(self):
        if self.steps < 1:
            raise ValueError("steps")


def test_settings_of_and_keyed_view():
    cfg = Whole()
    fields = ("lr", "part.width", "other")
    assert cache.settings_of(cfg, fields) == {
        "lr": 0.1,
        "part.width": 4,
        "other": {"width": 4, "depth": 2},
    }
    view = cache.keyed_view(cfg, fields)
    assert isinstance(view, Whole) and view.lr == 0.1 and view.part.width == 4
    assert view.other == Part() and cfg == Whole()  # the original is untouched
    for use in (
        lambda: view.steps + 1,
        lambda: range(view.steps),
        lambda: view.steps < 3,
        lambda: bool(view.part.depth),
        lambda: float(view.steps),
        lambda: f"{view.steps}",
        lambda: np.asarray(view.steps, dtype=float),
        lambda: view.steps.real,
        lambda: {view.steps: 1},
    ):
        with pytest.raises(cache.UnkeyedSettingError, match="'steps'|'part.depth'"):
            use()
    with pytest.raises((cache.UnkeyedSettingError, TypeError), match="Unkeyed|cache key"):
        torch.zeros(view.part.depth)  # torch checks the type itself
    assert "steps" in repr(view.steps)  # it can be shown and passed on
    again = pickle.loads(pickle.dumps(view))  # worker processes receive views
    assert again.lr == 0.1 and isinstance(again.steps, cache.Unkeyed)
    with pytest.raises(ValueError, match="no setting 'part.size'"):
        cache.settings_of(cfg, ("part.size",))
    with pytest.raises(TypeError, match="sequence of field names"):
        cache.settings_of(cfg, "lr")
    with pytest.raises(cache.UnkeyedSettingError):
        cache.config_key("a", view)  # a view is never a key


def test_keyed_returns_the_view_and_a_key_of_settings_and_code():
    view, key = cache.keyed(Whole(), ("lr", "part"), cache, seed=3)
    assert key == {
        "settings": {"lr": 0.1, "part": {"width": 4, "depth": 2}},
        "code": cache.code_hash(cache, settings=[__name__]),
        "seed": 3,
    }
    assert view.part == Part() and isinstance(view.other, cache.Unkeyed)
    _, other = cache.keyed(Whole(steps=20, other=Part(width=9)), ("lr", "part"), cache, seed=3)
    assert other == key
    _, changed = cache.keyed(Whole(part=Part(depth=3)), ("lr", "part"), cache, seed=3)
    assert changed != key


# ----------------------------------------------------------------------------- code


CODE = '''"""A module docstring."""

import math  # a comment


def f(x):
    """A docstring
    on two lines."""
    # a comment line

    text = """kept<SP>
as it is"""
    return math.sqrt(x) + len(text)  # trailing comment
'''.replace("<SP>", "  ")  # trailing spaces inside a string are code


def test_code_text_ignores_comments_docstrings_and_blank_lines():
    text = cache.code_text(CODE)
    assert "docstring" not in text and "comment" not in text
    assert text.splitlines() == [
        "import math",
        "def f(x):",
        '    text = """kept  ',
        'as it is"""',
        "    return math.sqrt(x) + len(text)",
    ]
    reworded = CODE.replace("A docstring", "Another docstring").replace("# a comment", "# more")
    assert cache.code_text(reworded) == text
    assert cache.code_text(CODE.replace("kept  ", "kept")) != text  # strings are code
    assert cache.code_text(CODE.replace("+ len", "- len")) != text


def test_the_code_hash_follows_the_imports_of_the_package():
    from implicit_edu.experiments.lp import train

    modules = cache.package_modules(train)
    assert {
        "implicit_edu.experiments.lp.train",
        "implicit_edu.experiments.lp.data",
        "implicit_edu.experiments.lp.models",
        "implicit_edu.experiments.lp.config",
        "implicit_edu.core.parameters",
        "implicit_edu.runtime.profiles",
    } <= set(modules)
    assert "implicit_edu.experiments.lp.lipschitz" not in modules  # evaluation code
    assert "implicit_edu.runtime.paper" in modules  # imported by the config module ...
    settings = ["implicit_edu.experiments.lp.config"]
    assert "implicit_edu.runtime.paper" not in cache.package_modules(train, settings=settings)
    # ... which, as a settings module, counts only by the methods of its classes
    source = cache._module_source("implicit_edu.experiments.lp.config")
    text = cache.code_text(source, settings=True)
    assert "def seeds_for" in text and "num_train" not in text and "def config" not in text


def test_editing_a_module_the_producer_imports_changes_the_code_hash(monkeypatch):
    from implicit_edu.experiments.lp import data, train

    before = cache.code_hash(train)
    assert cache.code_hash(train) == before and cache.code_hash(data) != before
    real = cache._module_source

    def edited(name, edit):
        return lambda module: edit(real(module)) if module == name else real(module)

    parameters = "implicit_edu.core.parameters"  # imported by lp.models
    monkeypatch.setattr(cache, "_module_source", edited(parameters, lambda s: s + "X = 1\n"))
    assert cache.code_hash(train) != before
    docs = edited(parameters, lambda s: s.replace('"""', '"""Reworded. ', 1) + "# a note\n")
    monkeypatch.setattr(cache, "_module_source", docs)
    assert cache.code_hash(train) == before
    lipschitz = "implicit_edu.experiments.lp.lipschitz"  # evaluation code: not imported
    monkeypatch.setattr(cache, "_module_source", edited(lipschitz, lambda s: s + "X = 1\n"))
    assert cache.code_hash(train) == before


# ----------------------------------------------------------------------------- the case studies


def _leaves(config, prefix=""):
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(value):
            yield from _leaves(value, f"{prefix}{field.name}.")
        else:
            yield f"{prefix}{field.name}"


def _perturbed(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value * 2 + 1
    if isinstance(value, str):
        return value + "-changed"
    if isinstance(value, tuple):
        return value + value[-1:] if value else (1,)
    if value is None:
        return 3
    raise TypeError(f"no perturbation for {value!r}")


def _replaced(config, path, value):
    """``config`` with one (dotted) setting changed; no validation, only keys are computed."""
    head, dot, rest = path.partition(".")
    new = copy.copy(config)
    object.__setattr__(new, head, _replaced(getattr(config, head), rest, value) if dot else value)
    return new


def _get(config, path):
    for name in path.split("."):
        config = getattr(config, name)
    return config


CASES = {
    # the settings that no trained model's key depends on: which models are trained, how they
    # are measured (and for Navier–Stokes the job's learning rate and number of steps, which are
    # in the key as arguments of the job)
    "lp": {
        "embeddings", "seeds", "seeds_largest", "max_iterations", "lipschitz_instances",
        "lipschitz_steps", "lipschitz_eps", "workers",
    },
    "deblur": {
        "profile", "seeds", "seeds_wide", "explicit_multipliers", "tikhonov_grid",
        "eval_iterations", "lipschitz_images", "lipschitz_iterations", "lipschitz_eps", "ranks",
    },
    "navier_stokes": {
        "profile", "seeds", "workers", "data.fine_grid", "data.num_fine", "train.steps",
        "train.learning_rates", "train.pilot_fraction", "evaluate.max_iterations",
        "evaluate.test_iterations", "evaluate.lipschitz_samples", "evaluate.lipschitz_eps",
        "evaluate.spectral_samples",
    },
    "reasoning": {
        "profile", "seeds", "workers", "prefix_data.test_bits", "prefix_data.num_test",
        "chain_data.test_statements", "chain_data.test_hops", "chain_data.num_test",
        "evaluate.conv_iterations", "evaluate.transformer_r", "evaluate.lt_prompts",
        "evaluate.lt_hops", "evaluate.spectral_samples", "evaluate.spectral_iters",
        "huginn.model", "huginn.steps", "huginn.pairs", "huginn.max_new_tokens",
        "huginn.system_prompt", "huginn.seed",
    },
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("profile", ["smoke", "cpu", "gpu"])
def test_every_training_setting_keys_the_models_and_no_other(name, profile):
    """Changing a setting changes the key of some trained model exactly when a model depends on
    it; changing an evaluation setting changes no key."""
    module = importlib.import_module(f"implicit_edu.experiments.{name}")
    settings = importlib.import_module(f"implicit_edu.experiments.{name}.config").MODEL_SETTINGS
    cfg = module.config(profile)
    keys = {model: cache.settings_of(cfg, fields) for model, fields in settings.items()}
    keyed = set()
    for path in _leaves(cfg):
        changed = _replaced(cfg, path, _perturbed(_get(cfg, path)))
        if any(cache.settings_of(changed, f) != keys[m] for m, f in settings.items()):
            keyed.add(path)
    assert set(_leaves(cfg)) - keyed == CASES[name]


# ----------------------------------------------------------------------------- a second build


def test_a_second_build_reuses_the_cache_and_edits_retrain(tmp_path, monkeypatch):
    """The linear programs at the smoke scale, built as the chapter builds them (``dataset`` then
    ``train_all``) against an empty cache: a second build trains nothing and returns the same
    models; an evaluation setting retrains nothing; a training setting retrains the models that
    depend on it; editing the code retrains what that code makes."""
    from implicit_edu.experiments import lp
    from implicit_edu.experiments.lp import data as lp_data
    from implicit_edu.experiments.lp import train as lp_train

    monkeypatch.setenv(cache.CACHE_VARIABLE, str(tmp_path))
    trained, generated = [], []
    train_one, generate = lp_train.train_one, lp_data._generate

    def counted_train(cfg, kind, d, seed, *args):
        trained.append((kind, d, seed))
        return train_one(cfg, kind, d, seed, *args)

    def counted_generate(*args):
        generated.append(args)
        return generate(*args)

    monkeypatch.setattr(lp_train, "train_one", counted_train)
    monkeypatch.setattr(lp_data, "_generate", counted_generate)

    def build(cfg):
        trained.clear()
        generated.clear()
        train, val, _ = lp.dataset(cfg)
        return lp.train_all(cfg, train, val, progress=False)

    cfg = lp.config("smoke")
    assert cfg.workers == 1  # training runs in this process, where it is counted
    jobs = lp.jobs(cfg)
    first = build(cfg)
    assert sorted(trained) == sorted(jobs) and len(generated) == 1
    files = sorted(tmp_path.iterdir())
    assert len(files) == len(jobs) + 1

    second = build(cfg)
    assert trained == [] and generated == [] and sorted(tmp_path.iterdir()) == files
    assert first.keys() == second.keys()
    for job, result in first.items():
        assert result.keys() == second[job].keys()
        for name, value in result["model"].items():
            assert torch.equal(value, second[job]["model"][name])
        for field in ("loss", "val_epochs", "val_error", "best_epoch", "seconds"):
            assert result[field] == second[job][field]

    # evaluation settings, and those that only choose which models are trained: nothing retrains
    measured = dataclasses.replace(cfg, max_iterations=4, lipschitz_instances=3, lipschitz_steps=3)
    build(dataclasses.replace(measured, lipschitz_eps=1e-3, seeds_largest=2))
    assert trained == [] and generated == [] and sorted(tmp_path.iterdir()) == files
    small = dataclasses.replace(measured, embeddings=(4,))
    build(small)
    assert trained == [] and generated == []
    small_jobs = lp.jobs(small)  # fewer models from here on: quicker

    build(dataclasses.replace(small, epochs_implicit=cfg.epochs_implicit + 1))
    assert sorted(trained) == sorted(job for job in small_jobs if job[0] == "implicit")
    assert generated == []

    real = cache._module_source

    def edit(module, text):
        monkeypatch.setattr(
            cache, "_module_source", lambda m: real(m) + (text if m == module else "")
        )

    edit("implicit_edu.experiments.lp.models", "\n# a comment only\n")
    build(small)
    assert trained == [] and generated == []
    edit("implicit_edu.experiments.lp.models", "\nEDITED = True\n")
    build(small)
    assert sorted(trained) == sorted(small_jobs) and generated == []  # data: no models
    edit("implicit_edu.experiments.lp.data", "\nEDITED = True\n")
    build(small)
    assert sorted(trained) == sorted(small_jobs) and len(generated) == 1
