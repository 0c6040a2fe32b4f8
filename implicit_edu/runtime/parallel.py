"""Training several small models side by side on a CPU (shared by the case studies).

Two processes with one torch thread each train two small models faster than one process with two
threads (measured on 2 cores while the case studies were sized): the tensors are too small for
threads to pay off. :func:`run_jobs` runs independent jobs in a pool of "spawn" worker
processes, which works in a plain script, in Jupyter and during a Sphinx build; where the pool
cannot start or breaks, the jobs it did not finish run one after the other in this process. On a
GPU the jobs always run serially.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import warnings
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from implicit_edu.core.checks import check_positive_integers
from implicit_edu.runtime.notebook import show_progress
from implicit_edu.runtime.profiles import get_device


def run_jobs(
    function: Callable[..., Any],
    jobs: Mapping[Hashable, tuple],
    workers: int = 1,
    progress: bool | None = None,
    desc: str = "models",
) -> dict[Hashable, Any]:
    """``{key: function(*args)}`` for every ``key: args`` in ``jobs``, in the order of ``jobs``.

    ``function`` must be defined at module level (worker processes import it by name). With
    ``workers`` > 1 on a CPU the jobs run in that many worker processes. ``progress`` draws a
    progress bar (tqdm) over the finished jobs, labelled ``desc``; None, the package's default,
    draws one only where someone watches (:func:`~implicit_edu.runtime.notebook.show_progress`).
    """
    from tqdm.auto import tqdm

    check_positive_integers(workers=workers)
    show = show_progress(progress)
    results: dict[Hashable, Any] = {}
    if workers > 1 and len(jobs) > 1 and get_device().type == "cpu":
        try:
            context = multiprocessing.get_context("spawn")
            with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
                futures = {pool.submit(function, *args): key for key, args in jobs.items()}
                done = concurrent.futures.as_completed(futures)
                for future in tqdm(done, total=len(jobs), desc=desc, disable=not show):
                    results[futures[future]] = future.result()
        except (OSError, RuntimeError, concurrent.futures.BrokenExecutor) as error:
            warnings.warn(
                f"parallel training failed ({error}); training one model at a time",
                RuntimeWarning,
                stacklevel=3,
            )
    rest = [key for key in jobs if key not in results]
    for key in tqdm(rest, desc=desc, disable=not show or not rest):
        results[key] = function(*jobs[key])
    return {key: results[key] for key in jobs}
