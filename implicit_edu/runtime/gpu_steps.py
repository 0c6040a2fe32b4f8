"""Training steps of the ``gpu`` profile, timed on a real GPU: what Part IV says about its run time.

No GPU has run a whole case study in the ``gpu`` profile. One did run every *training step* of it:
``tools/gpu_steps.py`` took each model that the ``gpu`` profile trains (the steps of the memory dry
run, ``tests/test_gpu_dry_run.py``), moved it and a batch of the profile's full size to the GPU,
and timed a few optimiser steps after two warm-up steps; it also read the peak memory that
PyTorch's caching allocator reserved. The results lie in ``gpu_steps_h200.json`` beside this
module, with the GPU, the PyTorch version, the date and the commit they were measured at.

Each case study's ``training_steps(cfg)`` counts the optimiser steps a configuration takes per
model (every seed, pilot and phase, early stopping ignored); :func:`training_seconds` multiplies
them by the measured seconds per step. That is the time of the training steps alone on the GPU
that was measured: validation, data generation and evaluation come on top, and another GPU (a
Colab T4) is slower. The chapters print it as what it is: an estimate from measured steps.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path

__all__ = ["measurement", "seconds_per_step", "training_seconds"]

FILE = Path(__file__).with_name("gpu_steps_h200.json")


@functools.cache
def measurement() -> dict:
    """The whole record: ``{"gpu", "torch", "date", "commit", "measured_by", "steps": [...]}``;
    each step has ``case``, ``key``, ``batch``, ``seconds_per_step``, ``max_reserved`` (bytes)."""
    return json.loads(FILE.read_text())


def seconds_per_step(case: str, key: str) -> float:
    """The measured seconds of one training step of model ``key`` of case study ``case``."""
    for step in measurement()["steps"]:
        if step["case"] == case and step["key"] == key:
            return float(step["seconds_per_step"])
    known = sorted({f"{s['case']}/{s['key']}" for s in measurement()["steps"]})
    raise KeyError(f"no measured step {case}/{key}; measured: {', '.join(known)}")


def training_seconds(case: str, steps: Mapping[str, int]) -> float:
    """Σ steps × measured seconds per step, over the models of ``steps`` (``{key: count}``)."""
    return sum(count * seconds_per_step(case, key) for key, count in steps.items())
