"""The on-disk cache of the case studies: keys, round trips, and the switch that disables it."""

from __future__ import annotations

import dataclasses

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
