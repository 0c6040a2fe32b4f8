"""The built book: every page exists, chapters carry executed outputs and figures, the Colab
buttons point at the .ipynb twins, MathJax is served locally, every page renders in a real
headless Chromium (math typeset, no raw TeX, images loaded, the Colab button, no console errors),
and the search page finds the solvers chapter.

These tests use the ``built_book`` fixture (the whole book built once, in the ``smoke`` profile).
The browser tests drive Debian's Chromium (``/usr/bin/chromium``, or ``IMPLICIT_EDU_CHROMIUM``)
with Playwright for Python (the dev extra) through ``executable_path``: no browser download, so
never run ``playwright install``. They serve the book from 127.0.0.1, as a web host would.
Set ``IMPLICIT_EDU_SKIP_BROWSER=1`` to skip them where no Chromium can be installed.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import pytest
import yaml

from tools import notebooks

if TYPE_CHECKING:  # imported where the browser starts: the static checks run without it
    from playwright.sync_api import Browser, BrowserContext, Page

# Any of these tests may be the first to use built_book and so wait for the whole smoke build
# (about 10 minutes on 2 cores), which pytest-timeout counts in that test's time.
pytestmark = [pytest.mark.book, pytest.mark.timeout(2400)]

ROOT = Path(__file__).resolve().parents[1]


def _page_name(entry: str) -> str:
    """A toc entry without its source suffix: the page's path in the HTML, less ``.html``."""
    return re.sub(r"\.(md|ipynb|rst)$", "", entry)


PAGES = [_page_name(entry) for entry in notebooks.toc_entries(ROOT)]
CHAPTERS = {_page_name(p.relative_to(ROOT).as_posix()) for p in notebooks.chapters(ROOT)}
CHAPTER_PAGES = [page for page in PAGES if page in CHAPTERS]
MATHJAX = "_static/mathjax/tex-chtml.js"


def _html_path(html: Path, page: str) -> Path:
    return html / f"{page}.html"


def _read_page(html: Path, page: str) -> str:
    path = _html_path(html, page)
    assert path.exists(), f"no HTML page {path.relative_to(html)} for the toc entry {page}"
    return path.read_text(encoding="utf-8")


class _Tags(HTMLParser):
    """Collects the attributes of every tag of the given names."""

    def __init__(self, *names: str):
        super().__init__()
        self.names = names
        self.found: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.names:
            self.found.append((tag, {k: v or "" for k, v in attrs}))


def _tags(text: str, *names: str) -> list[tuple[str, dict[str, str]]]:
    parser = _Tags(*names)
    parser.feed(text)
    return parser.found


def _colab_prefix() -> str:
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    return config["launch_buttons"]["colab_url"].rstrip("/")


def _colab_link(page: str) -> str:
    """Where the Colab button of ``page`` must point: its .ipynb twin on GitHub."""
    url, branch = notebooks.repository(ROOT)
    org, repo = urlsplit(url).path.strip("/").split("/")[:2]
    return f"{_colab_prefix()}/github/{org}/{repo}/blob/{branch}/{page}.ipynb"


# ---------------------------------------------------------------------------------------------
# static checks of the HTML


def test_every_toc_page_has_an_html_page(built_book: Path):
    missing = [page for page in PAGES if not _html_path(built_book, page).exists()]
    assert missing == [], "toc entries without an HTML page"


@pytest.mark.parametrize("page", CHAPTER_PAGES)
def test_chapter_has_outputs_and_figures(built_book: Path, page: str):
    text = _read_page(built_book, page)
    assert "cell_output" in text, f"{page}: no executed cell output in the HTML"
    page_dir = _html_path(built_book, page).parent
    figures, broken = [], []
    for _, attrs in _tags(text, "img"):
        src = attrs.get("src", "")
        if src.startswith("data:"):
            figures.append(src[:30])
            continue
        if urlsplit(src).scheme:  # remote images have no place in an offline book
            broken.append(src)
            continue
        target = (page_dir / unquote(urlsplit(src).path)).resolve()
        (figures if target.is_file() else broken).append(src)
    assert broken == [], f"{page}: images missing from the build (or remote)"
    assert any("_images/" in src or src.startswith("data:") for src in figures), (
        f"{page}: no figure (an <img> from the executed notebook)"
    )


@pytest.mark.parametrize("page", CHAPTER_PAGES)
def test_colab_button_opens_the_twin(built_book: Path, page: str):
    colab, expected = _colab_prefix(), _colab_link(page)
    assert (ROOT / f"{page}.ipynb").exists(), f"{page}.ipynb (the twin) is missing"
    links = [a.get("href", "") for _, a in _tags(_read_page(built_book, page), "a")]
    colab_links = [link for link in links if link.startswith(colab)]
    assert colab_links == [expected], f"{page}: the Colab button should link to {expected}"


@pytest.mark.parametrize("page", CHAPTER_PAGES)
def test_bootstrap_cell_is_hidden(built_book: Path, page: str):
    text = _read_page(built_book, page)
    assert notebooks.BOOTSTRAP_PREFIX not in text, f"{page}: the bootstrap cell is shown"
    assert "google.colab" not in text, f"{page}: the bootstrap cell's code is in the page"


class _Tables(HTMLParser):
    """Each ``<table>`` of a page: its caption number ("Table 3.2") and its first header cells."""

    def __init__(self):
        super().__init__()
        self.tables: list[dict] = []
        self._open: list[dict] = []  # the tables being read, innermost last
        self._number = False  # inside the caption's number (a <span> with no <span> inside)
        self._head = False  # inside a <th> (whose text may sit in <p>, <code>, <span>...)

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        if tag == "table":
            self._open.append({"caption": None, "number": "", "head": []})
            self.tables.append(self._open[-1])
        elif not self._open:
            return
        elif tag == "caption":
            self._open[-1]["caption"] = ""
        elif tag == "span" and "caption-number" in classes and self._open[-1]["caption"] == "":
            self._number = True
        elif tag == "th":
            self._open[-1]["head"].append("")
            self._head = True

    def handle_endtag(self, tag):
        if tag == "table" and self._open:
            self._open.pop()
        elif tag == "span":
            self._number = False
        elif tag == "th":
            self._head = False

    def handle_data(self, data):
        if not self._open:
            return
        if self._number:
            self._open[-1]["number"] += data
        elif self._head:
            self._open[-1]["head"][-1] += data


# every page of the book but the generated API reference: the chapters, front and back matter
TABLE_PAGES = [page for page in PAGES if not page.startswith("book/api/")]


@pytest.mark.parametrize("page", TABLE_PAGES)
def test_every_table_has_a_numbered_caption(built_book: Path, page: str):
    # Tables are built with implicit_edu.runtime.notebook.captioned_table in code cells, or
    # written in a MyST {table} directive in the text: either way Sphinx numbers them.
    parser = _Tables()
    parser.feed(_read_page(built_book, page))
    missing = [
        " | ".join(cell.strip() for cell in table["head"][:3]) or "(no header)"
        for table in parser.tables
        if not re.fullmatch(r"Table \d+(\.\d+)*\s*", table["number"])
    ]
    assert missing == [], (
        f"{page}: tables without a numbered caption (first header cells shown); build them with "
        f"captioned_table(..., caption=..., name='tab-...') or a :::{{table}} directive: {missing}"
    )


def test_mathjax_is_served_locally(built_book: Path):
    assert (built_book / MATHJAX).is_file(), f"{MATHJAX} is missing from the build"
    with_math = []
    for page in PAGES:
        text = _read_page(built_book, page)
        sources = [attrs.get("src", "") for _, attrs in _tags(text, "script")]
        remote = [src for src in sources if "mathjax" in src.lower() and urlsplit(src).scheme]
        assert remote == [], f"{page}: MathJax loaded from the network"
        if 'class="math' in text:
            with_math.append(page)
            assert any(urlsplit(src).path.endswith(MATHJAX) for src in sources), (
                f"{page}: no local {MATHJAX}"
            )
    assert with_math, "no page has math: is MathJax configured at all?"


# ---------------------------------------------------------------------------------------------
# a real browser

# Playwright passes --headless, --no-sandbox (chromium_sandbox=False: the tests may run as root),
# --no-first-run, --no-default-browser-check, --disable-background-networking,
# --disable-component-update, --disable-dev-shm-usage, --disable-extensions, --disable-sync and
# --mute-audio itself; these two it leaves out.
CHROMIUM_ARGS = ["--disable-gpu", "--disable-quic"]
VIEWPORT = {"width": 1280, "height": 1000}
PAGE_TIMEOUT_S = 90.0
INSTALL_HINT = (
    "Chromium is needed for the browser tests: install it with "
    "`apt-get update && apt-get install -y chromium` (or `make browser`), point "
    "IMPLICIT_EDU_CHROMIUM at a Chromium/Chrome binary, or set IMPLICIT_EDU_SKIP_BROWSER=1 "
    "to skip these tests."
)
SEARCH_QUERY = "Anderson"
SEARCH_TARGET = "book/part3/solvers"  # the chapter that the search must find


def _chromium_executable() -> str | None:
    configured = os.environ.get("IMPLICIT_EDU_CHROMIUM")
    if configured:
        return configured if Path(configured).exists() else None
    if Path("/usr/bin/chromium").exists():
        return "/usr/bin/chromium"
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


@pytest.fixture(scope="session")
def book_server(built_book: Path):
    """The built book served over HTTP on 127.0.0.1 (a free port); yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(built_book))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


# Module scope, not session scope: while Playwright's sync API is alive it marks its asyncio loop
# as the thread's running loop between calls, so asyncio.run() (nbclient, jupyter_client) in test
# modules after this one would fail. All the browser tests live here: Chromium starts once.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser | str]:
    """A headless Chromium driven by Playwright, or the reason why there is none (a string).

    The tests fail (not error) on a missing Chromium; IMPLICIT_EDU_SKIP_BROWSER=1 skips them.
    """
    if os.environ.get("IMPLICIT_EDU_SKIP_BROWSER") == "1":
        pytest.skip("IMPLICIT_EDU_SKIP_BROWSER=1")
    executable = _chromium_executable()
    if executable is None:
        yield f"no Chromium found. {INSTALL_HINT}"
        return
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        yield (
            "Playwright for Python is needed for the browser tests: install the dev extra "
            "(`pip install -e '.[dev]'`, as `make setup` does), or set "
            "IMPLICIT_EDU_SKIP_BROWSER=1 to skip these tests. No `playwright install`: the "
            f"tests drive {executable}."
        )
        return
    playwright = sync_playwright().start()
    try:
        try:
            chromium = playwright.chromium.launch(
                executable_path=executable,
                args=CHROMIUM_ARGS,
                chromium_sandbox=False,
                timeout=60_000,
            )
        except Error as error:
            yield f"Chromium ({executable}) did not start: {error}. {INSTALL_HINT}"
            return
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


@pytest.fixture(scope="module")
def browser_context(browser: Browser | str) -> Iterator[BrowserContext | None]:
    """One browser context for the module: its pages share the HTTP cache, so MathJax, the
    theme's scripts and fonts load once, as for a reader going from page to page."""
    if isinstance(browser, str):
        yield None
        return
    context = browser.new_context(viewport=VIEWPORT, service_workers="block")
    context.set_default_timeout(PAGE_TIMEOUT_S * 1000)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(browser_context: BrowserContext | None) -> Iterator[Page | None]:
    """A fresh page (tab) for one test; None without a browser (the test fails with the reason)."""
    if browser_context is None:
        yield None
        return
    page = browser_context.new_page()
    try:
        yield page
    finally:
        page.close()


@pytest.fixture
def page_errors(page: Page | None) -> list[str]:
    """The errors ``page`` reports from now on: uncaught exceptions, console errors and asserts
    (Chromium's own error log, e.g. a failed load, arrives as a console error too), failed
    requests and HTTP error statuses. /favicon.ico is the browser's own request (no page names
    an icon), so it is left out."""
    errors: list[str] = []
    if page is None:
        return errors

    def own_icon(url: str) -> bool:
        return urlsplit(url).path.endswith("/favicon.ico")

    def on_console(message) -> None:
        url = (message.location or {}).get("url", "")
        if message.type in ("error", "assert") and not own_icon(url):
            errors.append(f"console.{message.type}: {message.text} {url}".rstrip())

    def on_request_failed(request) -> None:
        if not own_icon(request.url):
            errors.append(f"request failed: {request.url} ({request.failure})")

    def on_response(response) -> None:
        if response.status >= 400 and not own_icon(response.url):
            errors.append(f"HTTP {response.status}: {response.url}")

    page.on("pageerror", lambda error: errors.append(f"exception: {error}"))
    page.on("console", on_console)
    page.on("requestfailed", on_request_failed)
    page.on("response", on_response)
    return errors


def _require_browser(browser: Browser | str) -> None:
    if isinstance(browser, str):
        pytest.fail(browser, pytrace=False)


def _open(page: Page, url: str) -> None:
    """Navigate to ``url`` and wait for its load event; fail on a network error or HTTP error."""
    response = page.goto(url, wait_until="load")
    assert response is not None and response.ok, (
        f"{url}: HTTP {response.status if response else 'no response'}"
    )


# Runs in the page after its load event: waits for images and MathJax, then reports.
PAGE_SCRIPT = r"""
async (colab) => {
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  for (const img of document.images) { if (img.loading === "lazy") img.loading = "eager"; }
  const images = [...document.images].map((img) => img.complete ? null : new Promise((resolve) => {
    img.addEventListener("load", resolve); img.addEventListener("error", resolve);
  }));
  await Promise.race([Promise.all(images), sleep(30000)]);
  let mathjax = "absent";
  if (window.MathJax && window.MathJax.startup && window.MathJax.startup.promise) {
    mathjax = await Promise.race([
      window.MathJax.startup.promise.then(() => "typeset"), sleep(60000).then(() => "timeout"),
    ]);
  } else if (window.MathJax) {
    mathjax = "not started";
  }
  const skip = "script, style, pre, code, textarea, mjx-container, .highlight, .MathJax";
  const raw = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.parentElement && node.parentElement.closest(skip)) continue;
    const text = node.textContent;
    for (const token of ["\\(", "\\)", "\\[", "\\]", "$$", "\\begin{"]) {
      if (text.includes(token)) { raw.push(text.trim().slice(0, 120)); break; }
    }
  }
  return {
    mathjax,
    math: document.querySelectorAll(".math").length,
    typeset: document.querySelectorAll("mjx-container").length,
    mathErrors: [...document.querySelectorAll("mjx-merror")].map(
      (e) => e.getAttribute("data-mjx-error") || e.textContent),
    raw,
    images: document.images.length,
    brokenImages: [...document.images].filter((img) => !(img.complete && img.naturalWidth > 0))
      .map((img) => img.getAttribute("src")),
    colab: [...document.querySelectorAll("a[href]")].map((a) => a.getAttribute("href"))
      .filter((href) => href.startsWith(colab)),
  };
}
"""


@pytest.mark.parametrize("page_name", PAGES)
def test_page_renders_in_a_browser(
    browser: Browser | str,
    page: Page | None,
    page_errors: list[str],
    book_server: str,
    built_book: Path,
    page_name: str,
):
    _require_browser(browser)
    assert page is not None
    assert _html_path(built_book, page_name).exists(), f"no HTML page for {page_name}"
    started = time.monotonic()
    _open(page, f"{book_server}/{page_name}.html")
    seen = page.evaluate(PAGE_SCRIPT, _colab_prefix())
    page.wait_for_timeout(500)  # errors that arrive just after the script
    problems = []
    if seen["math"]:
        if seen["mathjax"] != "typeset":
            problems.append(f"MathJax did not typeset the page (MathJax: {seen['mathjax']})")
        if not seen["typeset"]:
            problems.append(f"{seen['math']} math elements but no mjx-container")
    if seen["mathErrors"]:
        problems.append(f"TeX errors: {seen['mathErrors']}")
    if seen["raw"]:
        problems.append(f"raw LaTeX in the visible text: {seen['raw'][:5]}")
    if seen["brokenImages"]:
        problems.append(f"images that did not load: {seen['brokenImages']}")
    if page_name in CHAPTERS and seen["colab"] != [_colab_link(page_name)]:
        problems.append(
            f"Colab links in the rendered page: {seen['colab']}; "
            f"expected one, to {_colab_link(page_name)}"
        )
    if page_errors:
        problems.append("console errors:\n  " + "\n  ".join(page_errors))
    elapsed = time.monotonic() - started
    assert not problems, f"{page_name} ({elapsed:.1f} s in Chromium):\n" + "\n".join(problems)


# Sphinx's searchtools.js (the book theme keeps it) runs the query of search.html?q=... once the
# page has loaded its searchindex.js: it adds <ul class="search"> to #search-results, one <li><a>
# per hit, and, when it is done, writes "Search finished, found N page(s)..." (or "did not
# match") into p.search-summary.
SEARCH_DONE = """() => {
  const summary = document.querySelector("#search-results p.search-summary");
  return summary !== null && summary.textContent.trim() !== "";
}"""


def test_search_finds_the_solvers_chapter(
    browser: Browser | str,
    page: Page | None,
    page_errors: list[str],
    book_server: str,
    built_book: Path,
):
    _require_browser(browser)
    assert page is not None
    assert SEARCH_TARGET in PAGES, f"{SEARCH_TARGET} is no longer in the toc: update this test"
    assert (built_book / "searchindex.js").is_file(), "no searchindex.js in the build"
    _open(page, f"{book_server}/search.html?q={SEARCH_QUERY}")
    page.wait_for_function(SEARCH_DONE, timeout=60_000)
    summary = page.locator("#search-results p.search-summary").inner_text()
    links = page.locator("#search-results ul.search li a").evaluate_all(
        "(links) => links.map((a) => a.href)"
    )
    page.wait_for_timeout(500)  # the result summaries that the page fetches
    found = {urlsplit(link).path.lstrip("/") for link in links}
    assert links, f"search.html?q={SEARCH_QUERY}: no results ({summary!r})"
    assert f"{SEARCH_TARGET}.html" in found, (
        f"search.html?q={SEARCH_QUERY}: no result links to {SEARCH_TARGET}.html; "
        f"found {sorted(found)}"
    )
    assert not page_errors, "errors on the search page:\n  " + "\n  ".join(page_errors)
