"""tools/build_book.py: the chapters are scheduled one per batch, the longest first."""

from __future__ import annotations

import pytest

from tools import build_book


def test_every_document_is_a_batch_of_its_own_and_the_longest_start_first(monkeypatch):
    expected = {"book/part4/linear-programs": 500, "book/part4/deblurring": 400,
                "book/part3/regularity": 300, "book/part1/one-over-x": 60}  # fmt: skip
    monkeypatch.setattr(build_book, "EXPECTED_SECONDS", expected)
    documents = [
        "book/preface",
        "book/part1/one-over-x",
        "book/part4/linear-programs",
        "book/part3/regularity",
        "book/part4/deblurring",
        "book/bibliography",
    ]
    batches = build_book.one_document_per_batch(documents, nproc=2)
    assert all(len(batch) == 1 for batch in batches)
    assert sorted(batch[0] for batch in batches) == sorted(documents)
    # Sphinx starts the first two at once, then pops the waiting ones last-in-first-out
    started = [batches[0][0], batches[1][0]]
    waiting = [batch[0] for batch in batches[2:]]
    order = started + waiting[::-1]
    assert order[:4] == [
        "book/part4/linear-programs",
        "book/part4/deblurring",
        "book/part3/regularity",
        "book/part1/one-over-x",
    ]


def test_sphinx_still_starts_waiting_batches_last_in_first_out():
    """The schedule above relies on ParallelTasks popping its waiting dict with popitem()."""
    import inspect

    from sphinx.util.parallel import ParallelTasks

    assert "self._precvsWaiting.popitem()" in inspect.getsource(ParallelTasks._join_one)


def test_the_expected_times_name_chapters_of_the_table_of_contents(root):
    toc = (root / "_toc.yml").read_text(encoding="utf-8")
    for document in build_book.EXPECTED_SECONDS:
        assert f"file: {document}\n" in toc, f"{document} is not in _toc.yml"


def test_jobs_below_one_is_refused(capsys):
    with pytest.raises(SystemExit):
        build_book.main(["--jobs", "0", "."])
    assert "--jobs must be at least 1" in capsys.readouterr().err


def test_the_execution_cache_exists_before_parallel_reading_starts(tmp_path, root):
    """Two reading processes creating jupyter-cache's tables at once made a build fail."""
    import importlib.util
    import sqlite3
    from types import SimpleNamespace

    spec = importlib.util.spec_from_file_location("parallel_safe", root / "_ext/parallel_safe.py")
    parallel_safe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(parallel_safe)
    cache = tmp_path / ".jupyter_cache"
    config = SimpleNamespace(execution_mode="cache", execution_cache_path=str(cache))
    app = SimpleNamespace(env=SimpleNamespace(mystnb_config=config), parallel=2)
    parallel_safe._create_execution_cache(app)
    database = next(cache.glob("*.db"))
    tables = sqlite3.connect(database).execute("select name from sqlite_master").fetchall()
    assert ("nbproject",) in tables


def test_chapters_side_by_side_share_the_cores_in_threads(monkeypatch):
    monkeypatch.setattr(build_book.os, "cpu_count", lambda: 4)
    environ = {"MKL_NUM_THREADS": "3"}  # a value already set is kept
    assert build_book.share_the_cores(2, environ) == 2
    assert environ == {"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "3"}
    environ = {}
    assert build_book.share_the_cores(8, environ) == 1  # never below one thread
    assert environ == {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
