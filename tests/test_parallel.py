"""Side-by-side training jobs: results in order, worker processes, and the serial fallback."""

from __future__ import annotations

import operator

import pytest

from implicit_edu.runtime import parallel


def test_jobs_run_in_workers_and_keep_their_order():
    jobs = {"c": (2, 3), "a": (4, 5), "b": (6, 7)}
    assert parallel.run_jobs(operator.mul, jobs, workers=2) == {"c": 6, "a": 20, "b": 42}


def test_a_pool_that_cannot_start_falls_back_to_serial(monkeypatch):
    def broken(_method):
        raise OSError("no processes here")

    monkeypatch.setattr(parallel.multiprocessing, "get_context", broken)
    with pytest.warns(RuntimeWarning, match="one model at a time"):
        result = parallel.run_jobs(operator.add, {1: (1, 2), 2: (3, 4)}, workers=2)
    assert result == {1: 3, 2: 7}


def test_bad_worker_count_is_refused():
    with pytest.raises(ValueError, match="workers must be an integer >= 1"):
        parallel.run_jobs(operator.add, {1: (1, 2)}, workers=0)
