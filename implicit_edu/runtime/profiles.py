"""Scale profiles, device selection and seeding (the book's conventions, see the preface).

One environment variable, ``IMPLICIT_EDU_PROFILE``, selects the scale of every experiment:

* ``smoke``: seconds per chapter; the tests and CI use it to check that every code path runs;
* ``cpu``: what the published pages show, a few minutes per case study on a 2-core laptop;
* ``gpu``: Colab or any CUDA machine, as close to the paper's set-up as 30 minutes allow.

Without the variable (or with it blank) the profile is ``gpu`` where CUDA is available, so a
Colab GPU runtime gets it without being asked, and ``cpu`` elsewhere. A value set in the variable
always wins, whatever the machine; the device does not follow the profile (:func:`get_device`
picks CUDA whenever it is there).
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator
from typing import TypeVar

import numpy as np
import torch

PROFILES = ("smoke", "cpu", "gpu")
PROFILE_VARIABLE = "IMPLICIT_EDU_PROFILE"

T = TypeVar("T")


def current_profile() -> str:
    """The active scale profile: ``IMPLICIT_EDU_PROFILE`` if set, else ``gpu`` or ``cpu``."""
    value = os.environ.get(PROFILE_VARIABLE, "").strip().lower()
    if not value:
        return "gpu" if torch.cuda.is_available() else "cpu"
    if value not in PROFILES:
        raise ValueError(
            f"{PROFILE_VARIABLE}={value!r} is not a profile; "
            f"set it to one of {', '.join(PROFILES)} (or unset it for the default)."
        )
    return value


def pick(*, smoke: T, cpu: T, gpu: T, profile: str | None = None) -> T:
    """Choose a value by profile: ``pick(smoke=200, cpu=2000, gpu=20000)``."""
    profile = profile or current_profile()
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    return {"smoke": smoke, "cpu": cpu, "gpu": gpu}[profile]


def get_device() -> torch.device:
    """CUDA when it is available, else the CPU. Chapters never call ``.cuda()`` themselves."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (CPU and CUDA); return a torch generator with that seed."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@contextlib.contextmanager
def fixed_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)`` (``None``: leave it as it is).

    Small models train fastest on one CPU thread each (see the case studies); the previous
    setting is restored however the block ends.
    """
    previous = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
