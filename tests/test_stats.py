"""Paired differences and their t-quantile intervals (implicit_edu.runtime.stats)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from implicit_edu.runtime.stats import paired_interval


def test_paired_interval_is_scipys_t_interval():
    values = np.array([0.3, -0.1, 0.25, 0.4, 0.05, 0.2])
    mean, half, n = paired_interval(values, confidence=0.9)
    low, high = stats.t.interval(0.9, n - 1, loc=values.mean(), scale=stats.sem(values))
    assert (mean, n) == (pytest.approx(values.mean()), 6)
    assert (mean - half, mean + half) == (pytest.approx(low), pytest.approx(high))


def test_paired_interval_rejects_bad_input():
    with pytest.raises(ValueError, match="no differences"):
        paired_interval([])
    with pytest.raises(ValueError, match="confidence"):
        paired_interval([0.1, 0.2], confidence=95)
