"""Scale profiles, device selection and seeding (implicit_edu.profiles)."""

import pytest
import torch

from implicit_edu import profiles


def test_profile_from_environment(monkeypatch):
    for name in profiles.PROFILES:
        monkeypatch.setenv(profiles.PROFILE_VARIABLE, name)
        assert profiles.current_profile() == name


def test_default_profile_follows_cuda(monkeypatch):
    monkeypatch.delenv(profiles.PROFILE_VARIABLE, raising=False)
    expected = "gpu" if torch.cuda.is_available() else "cpu"
    assert profiles.current_profile() == expected


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
