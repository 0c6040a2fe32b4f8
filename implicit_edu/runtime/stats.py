"""Statistics shared by the case studies: paired differences and their t-quantile intervals.

Every trained comparison in Part IV reports the mean of paired differences (the same seed, flow,
image or prompt under two models) with the interval mean ± t_{n−1, (1+c)/2} · s / √n.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

__all__ = ["paired_interval"]


def paired_interval(differences, confidence: float = 0.95) -> tuple[float, float, int]:
    """Mean of paired differences and the half-width of its t-quantile interval: (mean, ±, n).

    With n pairs the interval is mean ± t_{n−1} · s / √n (s the sample standard deviation);
    with a single pair there is no interval (``nan``).
    """
    values = np.asarray(differences, dtype=float).ravel()
    n = values.size
    if n == 0:
        raise ValueError("no differences given")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    if n == 1:
        return float(values[0]), math.nan, 1
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * values.std(ddof=1) / math.sqrt(n)
    return float(values.mean()), float(half), n
