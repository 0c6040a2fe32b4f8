"""The book's reference matter: the API reference (generated from the docstrings), the glossary
and the notation page. Fast checks of the sources here; checks of the built HTML use the
``built_book`` fixture (the smoke build, tests/conftest.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tools import api_pages

ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = ROOT / "book" / "glossary.md"


def _terms() -> list[str]:
    text = GLOSSARY.read_text(encoding="utf-8")
    body = text.split("```{glossary}", 1)[1].split("```", 1)[0]
    return [line for line in body.splitlines() if line and not line.startswith((" ", "\t"))]


# ---------------------------------------------------------------------------------------------
# sources


def test_the_api_pages_are_up_to_date():
    assert api_pages.main(["--check"]) == 0, "run `python tools/api_pages.py`"


def test_every_module_of_the_package_is_in_the_api_reference():
    documented = set()
    for page in (ROOT / "book" / "api").glob("*.md"):
        documented |= set(re.findall(r"\.\. automodule:: (\S+)", page.read_text(encoding="utf-8")))
    modules = set()
    for path in (ROOT / "implicit_edu").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        elif parts[-1].startswith("_") and parts[-1] != "_common":
            continue
        modules.add(".".join(parts))
    assert modules - documented == set(), "modules missing from book/api (run tools/api_pages.py)"


def test_the_api_pages_and_the_glossary_are_in_the_toc():
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    for page in ["book/glossary", "book/notation", "book/api/index"] + [
        f"book/api/{layer}" for layer in api_pages.LAYERS
    ]:
        assert f"file: {page}\n" in toc, f"{page} is not in _toc.yml"


def test_the_glossary_defines_the_terms_the_issue_names():
    terms = {t.lower() for t in _terms()}
    for term in [
        "regular operator",
        "contraction",
        "test-time compute",
        "l_t",
        "implicit backward",
        "fixed point",
        "implicit model",
    ]:
        assert term in terms, f"the glossary has no entry {term!r}"
    assert _terms() == sorted(_terms(), key=str.lower), "keep it sorted"


def test_every_term_a_chapter_links_is_defined():
    terms = {t.lower() for t in _terms()}
    role = re.compile(r"\{term\}`([^`<]+?)(?:\s*<([^>]+)>)?`")
    linked = []
    for md in (ROOT / "book").rglob("*.md"):
        for text, target in role.findall(md.read_text(encoding="utf-8")):
            name = (target or text).strip().lower()
            linked.append(md.name)
            assert name in terms, f"{md.relative_to(ROOT)} links the undefined term {name!r}"
    chapters = {name for name in linked if name != "glossary.md"}
    assert len(chapters) >= 6, "the chapters should link the glossary where a term first matters"


_FORMATTING = re.compile(
    r'glue\(|Markdown\(|markdown_table\(|captioned_table\(|\brows\b|\blines\b|^\s*f?"|^\s*[)\]}]|"\|'
)


def _code_cells(md: Path):
    """(first line, tags and options, code lines) of each code cell of a chapter."""
    lines = md.read_text(encoding="utf-8").split("\n")
    for start, line in enumerate(lines):
        if not line.startswith("```{code-cell}"):
            continue
        end = next(k for k in range(start + 1, len(lines)) if lines[k].startswith("```"))
        body = lines[start + 1 : end]
        options, code, front = [], [], bool(body) and body[0] == "---"
        for k, text in enumerate(body):
            if front:
                front = not (k > 0 and text == "---")
                options.append(text)
            elif text.startswith(":"):
                options.append(text)
            elif text.strip() and not text.strip().startswith("#"):
                code.append(text)
        yield start + 1, "\n".join(options), code


def test_code_that_only_formats_a_table_is_folded():
    # A cell that builds a table (or only glues numbers) with mostly formatting lines and no
    # figure is bookkeeping: the reader gets the table, and the code one click away.
    unfolded = []
    for md in sorted((ROOT / "book").rglob("*.md")):
        for line, options, code in _code_cells(md):
            source = "\n".join(code)
            builds_table = any(
                name in source for name in ("Markdown(", "markdown_table(", "captioned_table(")
            )
            only_glue = bool(code) and all(re.match(r"\s*(_ = )?glue\(|\s*\)|\s+", c) for c in code)
            share = sum(bool(_FORMATTING.search(c)) for c in code) / max(1, len(code))
            figure = re.search(r"plt\.|\bax\.|subplots|new_figure", source)
            hidden = "hide-input" in options or "remove-" in options
            if (builds_table or only_glue) and share >= 0.6 and not figure and not hidden:
                unfolded.append(f"{md.relative_to(ROOT)}:{line}")
    assert unfolded == [], "add `:tags: [hide-input]` to these formatting cells"


_MAKES_A_FIGURE = re.compile(r"new_figure\(|plt\.subplots\(|plt\.figure\(|\.imshow\(|plt\.show\(")


@pytest.mark.parametrize("md", sorted((ROOT / "book").glob("part*/*.md")), ids=lambda p: p.stem)
def test_every_figure_has_a_caption_a_number_and_a_reference(md: Path):
    text = md.read_text(encoding="utf-8")
    problems = []
    for line, options, code in _code_cells(md):
        if not _MAKES_A_FIGURE.search("\n".join(code)) or "remove-output" in options:
            continue
        parts = options.split("\n")
        front = parts[1 : parts.index("---", 1)] if parts[0] == "---" else []
        meta = yaml.safe_load("\n".join(front)) or {}
        figure = (meta.get("mystnb") or {}).get("figure") or {}
        name = figure.get("name")
        if not figure.get("caption") or not name:
            problems.append(f"line {line}: a figure without a caption and a name (fig-...)")
        elif f"{{numref}}`{name}`" not in text and f"<{name}>`" not in text:
            problems.append(f"line {line}: {name} is never referenced ({{numref}}`{name}`)")
    assert problems == [], f"{md.relative_to(ROOT)}: " + "; ".join(problems)


# ---------------------------------------------------------------------------------------------
# the built HTML


@pytest.mark.book
@pytest.mark.timeout(2400)  # may be the first to wait for built_book (the smoke build)
def test_the_api_reference_documents_the_core_api(built_book: Path):
    core = (built_book / "book" / "api" / "core.html").read_text(encoding="utf-8")
    for anchor in ["implicit_edu.core.solvers.fixed_point", "implicit_edu.core.deq.DEQ"]:
        assert f'id="{anchor}"' in core, f"the API reference has no entry {anchor}"
    assert "Solver options, with their defaults" in core  # a docstring rendered, not just a name


@pytest.mark.book
@pytest.mark.timeout(2400)  # may be the first to wait for built_book (the smoke build)
def test_chapters_link_the_glossary(built_book: Path):
    page = (built_book / "book" / "part1" / "implicit-models.html").read_text(encoding="utf-8")
    assert re.search(r'href="\.\./glossary\.html#term-contraction"', page)
    glossary = (built_book / "book" / "glossary.html").read_text(encoding="utf-8")
    assert 'id="term-regular-operator"' in glossary


@pytest.mark.book
@pytest.mark.timeout(2400)  # may be the first to wait for built_book (the smoke build)
@pytest.mark.parametrize("page", ["book/part1/implicit-models", "book/part4/linear-programs"])
def test_a_chapters_download_menu_offers_the_notebook_and_the_markdown(built_book: Path, page: str):
    html = built_book / f"{page}.html"
    text = html.read_text(encoding="utf-8")
    for suffix in (".ipynb", ".md"):
        links = re.findall(rf'href="([^"]*_sources/{re.escape(page)}{suffix})"', text)
        assert links, f"{page}: the download menu has no {suffix}"
        assert (html.parent / links[0]).resolve().is_file(), f"{page}{suffix} is not in the build"


def test_every_chapter_links_the_modules_its_code_imports():
    for md in sorted((ROOT / "book").glob("part*/*.md")):
        text = md.read_text(encoding="utf-8")
        modules = api_pages.chapter_modules(text)
        assert modules, f"{md.relative_to(ROOT)} imports nothing from implicit_edu?"
        for name in modules:
            assert f"{{py:mod}}`{name}`" in text, f"{md.relative_to(ROOT)}: no link to {name}"


@pytest.mark.book
@pytest.mark.timeout(2400)
def test_a_chapters_code_links_to_the_api_reference(built_book: Path):
    page = (built_book / "book" / "part1" / "one-over-x.html").read_text(encoding="utf-8")
    assert 'href="../api/core.html#module-implicit_edu.core.solvers"' in page
    assert 'href="../api/experiments.html#module-implicit_edu.experiments.toy"' in page
