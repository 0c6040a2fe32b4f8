"""The built book: every page exists, chapters carry executed outputs and figures, the Colab
buttons point at the .ipynb twins, MathJax is served locally, and every page renders in a real
headless Chromium (math typeset, images loaded, no console errors).

These tests use the ``built_book`` fixture (the whole book built once, in the ``smoke`` profile).
The browser tests drive Debian's Chromium (``/usr/bin/chromium``, or ``IMPLICIT_EDU_CHROMIUM``)
through the DevTools protocol over a pipe (``--remote-debugging-pipe``), with the standard library
only: no browser download, no driver. They serve the book from 127.0.0.1, as a web host would.
Set ``IMPLICIT_EDU_SKIP_BROWSER=1`` to skip them where no Chromium can be installed.
"""

from __future__ import annotations

import fcntl
import functools
import http.server
import json
import os
import re
import select
import shutil
import subprocess
import threading
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

from tools import notebooks

pytestmark = pytest.mark.book

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
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    url, branch = notebooks.repository(ROOT)
    org, repo = urlsplit(url).path.strip("/").split("/")[:2]
    colab = config["launch_buttons"]["colab_url"].rstrip("/")
    expected = f"{colab}/github/{org}/{repo}/blob/{branch}/{page}.ipynb"
    assert (ROOT / f"{page}.ipynb").exists(), f"{page}.ipynb (the twin) is missing"
    links = [a.get("href", "") for _, a in _tags(_read_page(built_book, page), "a")]
    colab_links = [link for link in links if link.startswith(colab)]
    assert colab_links == [expected], f"{page}: the Colab button should link to {expected}"


@pytest.mark.parametrize("page", CHAPTER_PAGES)
def test_bootstrap_cell_is_hidden(built_book: Path, page: str):
    text = _read_page(built_book, page)
    assert notebooks.BOOTSTRAP_PREFIX not in text, f"{page}: the bootstrap cell is shown"
    assert "google.colab" not in text, f"{page}: the bootstrap cell's code is in the page"


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

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--mute-audio",
    "--window-size=1280,1000",
    "--remote-debugging-pipe",
]
PAGE_TIMEOUT_S = 90.0
INSTALL_HINT = (
    "Chromium is needed for the browser tests: install it with "
    "`apt-get update && apt-get install -y chromium` (or `make browser`), point "
    "IMPLICIT_EDU_CHROMIUM at a Chromium/Chrome binary, or set IMPLICIT_EDU_SKIP_BROWSER=1 "
    "to skip these tests."
)


class BrowserError(RuntimeError):
    """Chromium died, timed out or answered with an error."""


class Chromium:
    """A headless Chromium driven through the DevTools protocol over a pipe.

    Messages are JSON objects separated by NUL bytes: Chromium reads commands on its fd 3 and
    writes answers and events on its fd 4.
    """

    def __init__(self, executable: str, profile_dir: Path, log_path: Path):
        self.log_path = log_path
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # Copies above 10, so that bash's `3<&A 4>&B` cannot clobber one with the other.
        a = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD_CLOEXEC, 10)
        b = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        args = [*CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", "about:blank"]
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [
                    "/bin/bash",
                    "-c",
                    f'exec "$0" "$@" 3<&{a} 4>&{b} {a}<&- {b}>&-',
                    executable,
                    *args,
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(a, b),
            )
        os.close(a)
        os.close(b)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    # -- transport

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return ""

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("Chromium did not answer in time")
            ready, _, _ = select.select([self._from_chrome], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                raise BrowserError(f"Chromium closed the pipe; its log:\n{self._log_tail()}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 30.0) -> dict:  # fmt: skip
        """Send a command and return its result (events that arrive meanwhile are kept)."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self._to_chrome, data) :]
        deadline = time.monotonic() + timeout
        while True:
            answer = self._receive(deadline)
            if answer.get("id") == message["id"]:
                if "error" in answer:
                    raise BrowserError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            if "method" in answer:
                self.events.append(answer)

    def wait_for(self, method: str, session: str, timeout: float) -> dict:
        """Wait for an event of ``session``; return its parameters."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event["method"] == method and event.get("sessionId") == session:
                    return event.get("params", {})
            self.events.append(self._receive(deadline))

    def drain(self, seconds: float) -> None:
        """Collect the events that arrive within ``seconds``."""
        deadline = time.monotonic() + seconds
        try:
            while True:
                self.events.append(self._receive(deadline))
        except BrowserError as error:
            if "in time" not in str(error):
                raise

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except (BrowserError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._to_chrome, self._from_chrome):
            try:
                os.close(fd)
            except OSError:
                pass

    # -- pages

    def inspect(self, url: str, script: str, timeout: float = PAGE_TIMEOUT_S) -> dict:
        """Open ``url`` in a new tab, run ``script`` (a promise) after load; return its value and
        the errors the page reported (exceptions, console errors, failed loads)."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        self.events.clear()
        try:
            for domain in ("Page", "Runtime", "Log"):
                self.send(f"{domain}.enable", session=session)
            navigation = self.send("Page.navigate", {"url": url}, session=session)
            if navigation.get("errorText"):
                raise BrowserError(f"{url}: {navigation['errorText']}")
            self.wait_for("Page.loadEventFired", session, timeout)
            result = self.send(
                "Runtime.evaluate",
                {"expression": script, "awaitPromise": True, "returnByValue": True},
                session=session,
                timeout=timeout,
            )
            self.drain(0.5)  # errors that arrive just after the script
            if "exceptionDetails" in result:
                raise BrowserError(f"the page script failed: {result['exceptionDetails']}")
            value = result["result"].get("value")
            return {"value": value, "errors": self._errors(session)}
        finally:
            try:
                self.send("Target.closeTarget", {"targetId": target})
            except (BrowserError, OSError):
                pass

    def _errors(self, session: str) -> list[str]:
        errors = []
        for event in self.events:
            if event.get("sessionId") != session:
                continue
            params = event.get("params", {})
            if event["method"] == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                exception = details.get("exception", {})
                errors.append(f"exception: {exception.get('description') or details.get('text')}")
            elif event["method"] == "Runtime.consoleAPICalled" and params.get("type") in (
                "error",
                "assert",
            ):
                parts = [str(a.get("value", a.get("description", ""))) for a in params["args"]]
                errors.append(f"console.{params['type']}: {' '.join(parts)}")
            elif event["method"] == "Log.entryAdded":
                entry = params.get("entry", {})
                # /favicon.ico is the browser's own request (the pages name no icon)
                if entry.get("level") == "error" and not entry.get("url", "").endswith(
                    "/favicon.ico"
                ):
                    errors.append(
                        f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}"
                    )
        return errors


# Runs in the page after its load event: waits for images and MathJax, then reports.
PAGE_SCRIPT = r"""
(async () => {
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
  };
})()
"""


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


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory):
    """A headless Chromium for the session, or the reason why there is none (a string).

    The tests fail (not error) on a missing Chromium; IMPLICIT_EDU_SKIP_BROWSER=1 skips them.
    """
    if os.environ.get("IMPLICIT_EDU_SKIP_BROWSER") == "1":
        pytest.skip("IMPLICIT_EDU_SKIP_BROWSER=1")
    executable = _chromium_executable()
    if executable is None:
        yield f"no Chromium found. {INSTALL_HINT}"
        return
    directory = tmp_path_factory.mktemp("chromium")
    chromium = Chromium(executable, directory / "profile", directory / "chromium.log")
    try:
        chromium.send("Browser.getVersion", timeout=60)
    except BrowserError as error:
        chromium.close()
        yield f"Chromium ({executable}) did not start: {error}. {INSTALL_HINT}"
        return
    yield chromium
    chromium.close()


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_in_a_browser(browser: Chromium, book_server: str, built_book: Path, page):
    if isinstance(browser, str):
        pytest.fail(browser, pytrace=False)
    assert _html_path(built_book, page).exists(), f"no HTML page for {page}"
    started = time.monotonic()
    report = browser.inspect(f"{book_server}/{page}.html", PAGE_SCRIPT)
    seen, errors = report["value"], report["errors"]
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
    if errors:
        problems.append("console errors:\n  " + "\n  ".join(errors))
    elapsed = time.monotonic() - started
    assert not problems, f"{page} ({elapsed:.1f} s in Chromium):\n" + "\n".join(problems)
