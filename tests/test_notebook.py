"""The notebook helpers of implicit_edu.runtime.notebook: Markdown tables, plain and captioned."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from implicit_edu.runtime.notebook import MYST_TABLES_VARIABLE, captioned_table, markdown_table


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


def test_captioned_table_in_the_book_build_is_a_numbered_myst_table(monkeypatch):
    monkeypatch.setenv(MYST_TABLES_VARIABLE, "1")
    shown = captioned_table(
        ["n", "`x`"],
        [(1, "$y$")],
        caption="What it shows, with `code`.",
        name="tab-a-b2",
        align=["right", None],
    )
    assert shown.data.splitlines() == [
        ":::{table} What it shows, with `code`.",  # a colon fence: backticks allowed in the title
        ":name: tab-a-b2",
        "",
        "| n | `x` |",
        "|---:|---|",
        "| 1 | $y$ |",
        ":::",
    ]
    assert ":name:" not in captioned_table(["a"], [], caption="No name.").data


@pytest.mark.parametrize("value", ["", "0"])
def test_captioned_table_in_jupyter_or_colab_is_a_bold_caption_over_a_pipe_table(
    monkeypatch, value
):
    monkeypatch.setenv(MYST_TABLES_VARIABLE, value)
    shown = captioned_table(["a"], [(1,)], caption=" Caption. ", name="tab-x")
    assert shown.data == "**Caption.**\n\n| a |\n|---|\n| 1 |"
    monkeypatch.delenv(MYST_TABLES_VARIABLE)
    assert captioned_table(["a"], [(1,)], caption="Caption.").data == shown.data


def test_captioned_table_rejects_a_missing_caption_and_a_bad_name():
    with pytest.raises(ValueError, match="needs a caption"):
        captioned_table(["a"], [], caption="  ")
    with pytest.raises(ValueError, match="one paragraph"):
        captioned_table(["a"], [], caption="One.\n\nTwo.")
    with pytest.raises(ValueError, match="must look like 'tab-what-it-shows'"):
        captioned_table(["a"], [], caption="C.", name="Table 1")
    with pytest.raises(ValueError, match="row 0 has 2 cells"):
        captioned_table(["a"], [(1, 2)], caption="C.")


def test_the_book_extension_sets_the_variable_the_package_reads(monkeypatch):
    path = Path(__file__).resolve().parents[1] / "_ext" / "myst_tables.py"
    spec = importlib.util.spec_from_file_location("myst_tables", path)
    extension = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(extension)
    monkeypatch.delenv(MYST_TABLES_VARIABLE, raising=False)
    assert extension.VARIABLE == MYST_TABLES_VARIABLE
    assert extension.setup(None)["parallel_read_safe"] is True
    assert os.environ[MYST_TABLES_VARIABLE] == "1"
