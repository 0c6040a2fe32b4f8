"""The gpu profile's training steps timed on a GPU, and the step counts that turn them into a run
time (implicit_edu.runtime.gpu_steps and each case study's ``training_steps``)."""

from __future__ import annotations

import math

import pytest

from implicit_edu.experiments import deblur, lp, reasoning
from implicit_edu.experiments import navier_stokes as ns
from implicit_edu.runtime import gpu_steps

CASES = {"deblur": deblur, "navier_stokes": ns, "lp": lp, "reasoning": reasoning}

#: The gpu profile is meant for about 30 minutes on one Colab GPU, which is slower than the GPU
#: that was measured: its training steps must take well under that there.
MEASURED_GPU_MINUTES = 15


def test_the_measurement_says_where_it_comes_from():
    record = gpu_steps.measurement()
    assert record["gpu"] and record["torch"] and record["date"] and record["commit"]
    assert all(step["seconds_per_step"] > 0 for step in record["steps"])


@pytest.mark.parametrize("case", CASES)
def test_every_model_the_gpu_profile_trains_has_a_measured_step(case):
    steps = CASES[case].training_steps(CASES[case].config("gpu"))
    assert steps and all(isinstance(n, int) and n > 0 for n in steps.values())
    for key in steps:
        assert gpu_steps.seconds_per_step(case, key) > 0


@pytest.mark.parametrize("case", CASES)
def test_the_gpu_profile_trains_in_minutes_on_the_measured_gpu(case):
    seconds = gpu_steps.training_seconds(
        case, CASES[case].training_steps(CASES[case].config("gpu"))
    )
    assert 60 < seconds < 60 * MEASURED_GPU_MINUTES, (
        f"{case}: the gpu profile's training steps take {seconds / 60:.1f} min on the "
        f"{gpu_steps.measurement()['gpu']}: resize the gpu configuration"
    )


def test_training_seconds_is_steps_times_the_measured_step():
    one = gpu_steps.seconds_per_step("lp", "implicit-d4")
    two = gpu_steps.seconds_per_step("lp", "explicit-d4")
    total = gpu_steps.training_seconds("lp", {"implicit-d4": 10, "explicit-d4": 3})
    assert total == pytest.approx(10 * one + 3 * two)
    with pytest.raises(
        KeyError, match="no measured step lp/implicit-d5; measured: .*lp/implicit-d4"
    ):
        gpu_steps.seconds_per_step("lp", "implicit-d5")


def test_step_counts_follow_the_training_loops():
    cfg = lp.config("cpu")  # 3 seeds, 2 for the largest embedding; one full-batch step per epoch
    assert lp.training_steps(cfg)["implicit-d32"] == 2 * cfg.epochs_implicit
    assert lp.training_steps(cfg)["explicit-d4"] == 3 * cfg.epochs_explicit
    cfg = ns.config("cpu")  # a pilot per learning rate, then one run per seed
    t, steps = cfg.train, ns.training_steps(ns.config("cpu"))
    pilot = max(1, round(t.pilot_fraction * t.steps))
    runs = len(t.learning_rates) * pilot + len(cfg.seeds) * t.steps
    assert steps["explicit"] == steps["explicit_large"] == runs
    assert steps["implicit-warmup"] + steps["implicit-deq"] == runs
    assert steps["implicit-warmup"] == len(t.learning_rates) * math.ceil(
        t.warmup_fraction * pilot
    ) + len(cfg.seeds) * math.ceil(t.warmup_fraction * t.steps)
    cfg = reasoning.config("cpu")
    per_epoch = math.ceil(cfg.prefix_data.num_train / cfg.conv_train.batch)
    steps = reasoning.training_steps(cfg)
    assert steps["recurrent_conv"] == len(cfg.seeds) * cfg.conv_train.epochs * per_epoch
    assert steps["explicit_transformer"] == len(cfg.seeds) * cfg.transformer_train.explicit_steps
    cfg = deblur.config("cpu")
    steps = deblur.training_steps(cfg)
    assert steps["pgd"] == len(cfg.seeds_for(1)) * cfg.implicit_steps
    assert steps["pretrain-x16"] == len(cfg.seeds_for(16)) * cfg.pretrain_steps
