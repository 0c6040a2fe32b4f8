"""Scale profiles, device selection and seeding (implicit_edu.runtime.profiles)."""

import numpy as np
import pytest
import torch

from implicit_edu.runtime import profiles


def test_profile_from_environment(monkeypatch):
    for name in profiles.PROFILES:
        monkeypatch.setenv(profiles.PROFILE_VARIABLE, name)
        assert profiles.current_profile() == name


def test_default_profile_follows_cuda(monkeypatch):
    monkeypatch.delenv(profiles.PROFILE_VARIABLE, raising=False)
    expected = "gpu" if torch.cuda.is_available() else "cpu"
    assert profiles.current_profile() == expected


@pytest.mark.parametrize("cuda, expected", [(True, "gpu"), (False, "cpu")])
@pytest.mark.parametrize("unset", [None, "", "  "])
def test_without_the_variable_a_cuda_machine_gets_gpu(monkeypatch, cuda, expected, unset):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    if unset is None:
        monkeypatch.delenv(profiles.PROFILE_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(profiles.PROFILE_VARIABLE, unset)  # set but blank counts as unset
    assert profiles.current_profile() == expected
    assert profiles.pick(smoke=1, cpu=2, gpu=3) == {"cpu": 2, "gpu": 3}[expected]


@pytest.mark.parametrize("cuda", [True, False])
@pytest.mark.parametrize("name", profiles.PROFILES)
def test_the_variable_wins_over_the_machine(monkeypatch, cuda, name):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setenv(profiles.PROFILE_VARIABLE, f" {name.upper()} ")
    assert profiles.current_profile() == name


def test_unknown_profile_is_refused_with_the_valid_ones(monkeypatch):
    monkeypatch.setenv(profiles.PROFILE_VARIABLE, "laptop")
    with pytest.raises(ValueError, match="smoke, cpu, gpu"):
        profiles.current_profile()


def test_pick_chooses_by_profile():
    assert profiles.pick(smoke=1, cpu=2, gpu=3, profile="smoke") == 1
    assert profiles.pick(smoke=1, cpu=2, gpu=3, profile="gpu") == 3
    with pytest.raises(ValueError, match="unknown profile"):
        profiles.pick(smoke=1, cpu=2, gpu=3, profile="tpu")


def test_seeding_is_reproducible():
    profiles.seed_everything(5)
    first = torch.randn(3)
    profiles.seed_everything(5)
    assert torch.equal(first, torch.randn(3))
    with pytest.raises(ValueError):
        profiles.seed_everything(-1)


def test_device_is_usable():
    assert torch.zeros(1, device=profiles.get_device()).device.type in {"cpu", "cuda"}


def test_glue_stores_numpy_and_torch_scalars_as_python_numbers(monkeypatch):
    import myst_nb

    import implicit_edu.runtime.notebook as notebook

    stored = {}
    monkeypatch.setattr(
        myst_nb, "glue", lambda name, value, display=False: stored.update({name: value})
    )
    notebook.glue("a", np.float64(0.25))
    notebook.glue("b", torch.tensor(3))
    notebook.glue("c", "text")
    notebook.glue("d", np.arange(3))  # arrays stay arrays
    assert stored["a"] == 0.25 and type(stored["a"]) is float
    assert stored["b"] == 3 and type(stored["b"]) is int
    assert stored["c"] == "text" and isinstance(stored["d"], np.ndarray)
