"""The notebook helpers of implicit_edu.runtime.notebook: the one Markdown table helper."""

from __future__ import annotations

import pytest

from implicit_edu.runtime.notebook import markdown_table


def test_markdown_table_writes_header_separator_and_rows():
    table = markdown_table(["a", "b"], [(1, "x"), (2.5, "$y$")])
    assert table == "| a | b |\n|---|---|\n| 1 | x |\n| 2.5 | $y$ |"


def test_markdown_table_alignment_and_generator_rows():
    rows = ((str(i), f"{i / 3:.2f}") for i in range(2))
    table = markdown_table(["n", "third"], rows, align=["right", None])
    assert table.splitlines() == ["| n | third |", "|---:|---|", "| 0 | 0.00 |", "| 1 | 0.33 |"]
    assert markdown_table(["c", "l"], [], align=["center", "left"]) == "| c | l |\n|:---:|:---|"


def test_markdown_table_rejects_mismatched_shapes_and_alignments():
    with pytest.raises(ValueError, match="at least one column"):
        markdown_table([], [])
    with pytest.raises(ValueError, match=r"row 1 has 1 cells for 2 columns"):
        markdown_table(["a", "b"], [(1, 2), (3,)])
    with pytest.raises(ValueError, match=r"align has 1 entries for 2 columns"):
        markdown_table(["a", "b"], [], align=["right"])
    with pytest.raises(ValueError, match=r"unknown alignment 'r'"):
        markdown_table(["a"], [], align=["r"])
