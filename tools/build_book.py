"""Build the book like ``jupyter-book build``, with chapters executed side by side.

Jupyter Book 1 reads, and so executes, one chapter after the other, and its command line has no
option for Sphinx's parallel reading (``sphinx-build -j``), which MyST-NB supports. On 2 cores
the chapters leave half the machine idle much of the time (data generation, evaluation and the
small chapters run on one thread), so this script runs the same build with ``--jobs`` reading
processes. Sphinx would cut the sorted document list into a few long batches; here every
document is a batch of its own, scheduled so that the longest start first (``EXPECTED_SECONDS``,
from the build times in the README) and no case study waits behind a queue of short chapters.

Usage: ``python tools/build_book.py [--jobs N] [jupyter-book build arguments ...]``; the
Makefile's ``make book`` calls it. ``--jobs 1`` is exactly ``jupyter-book build``.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys

#: Measured seconds per chapter in the ``cpu`` profile from an empty cache, two chapters side by
#: side (README, 2026-12-04), used only to order the work: a wrong or missing value costs time,
#: never correctness.
EXPECTED_SECONDS = {
    "book/part4/navier-stokes": 993,
    "book/part4/linear-programs": 783,
    "book/part4/looped-models": 604,
    "book/part4/deblurring": 424,
    "book/part3/regularity": 382,
    "book/part3/first-model": 49,
    "book/part1/one-over-x": 49,
    "book/part2/test-time-compute": 45,
    "book/part3/differentiating": 34,
    "book/part3/solvers": 23,
}


def one_document_per_batch(documents, nproc, maxbatch=10):
    """Sphinx's ``make_chunks`` replaced: one batch per document, so that the longest run first.

    Sphinx's ``ParallelTasks`` starts the first ``nproc`` batches at once and keeps the others
    waiting in a dict that it empties last-in-first-out (``popitem``). So the ``nproc`` longest
    documents come first, and the rest follow from the shortest to the longest: then every free
    process takes the longest document still waiting.
    """
    ordered = sorted(documents, key=lambda doc: -EXPECTED_SECONDS.get(doc, 0))
    return [[doc] for doc in ordered[:nproc] + ordered[nproc:][::-1]]


def share_the_cores(jobs: int, environ=os.environ) -> int:
    """Give each of ``jobs`` chapters executed side by side its share of the cores, in threads.

    The kernels that execute the chapters inherit this process's environment. Without a limit,
    every kernel's PyTorch uses one OpenMP thread per core, and two chapters side by side put two
    threads on each core: OpenMP's threads spin while they wait for each other, and each chapter
    runs several times slower than it does alone (on 2 cores, a loop of small matrix products ran
    7 times slower side by side than alone; with one thread each, 1.25 times). So PyTorch's default
    is set to cores / jobs threads (at least 1) with ``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS``; a
    value already set is kept. Code that fixes its threads itself (``fixed_threads``) still does.
    Returns the threads per chapter.
    """
    threads = max(1, (os.cpu_count() or 1) // jobs)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        environ.setdefault(name, str(threads))
    return threads


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="parallel reading processes")
    ours, rest = parser.parse_known_args(argv)
    if ours.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {ours.jobs}")

    import jupyter_book.sphinx
    import sphinx.builders
    from jupyter_book.cli import main as cli

    if ours.jobs > 1:  # the CLI imports build_sphinx when it runs, so patch it at its source
        share_the_cores(ours.jobs)
        sphinx.builders.make_chunks = one_document_per_batch
        build = jupyter_book.sphinx.build_sphinx
        jupyter_book.sphinx.build_sphinx = functools.partial(build, jobs=ours.jobs)
    cli.main(["build", *rest], standalone_mode=True)


if __name__ == "__main__":
    main(sys.argv[1:])
