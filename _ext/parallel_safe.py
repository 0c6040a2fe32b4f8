"""Declare three of Jupyter Book's extensions safe for Sphinx's parallel reading.

`tools/build_book.py` reads (and so executes) the chapters in parallel processes. Sphinx refuses
to, with a warning that ``-W`` turns into an error, when an extension does not say whether it is
safe. Three of Jupyter Book 1's extensions say nothing; each is safe for an HTML build:

* ``sphinx_jupyterbook_latex`` only transforms documents for the LaTeX builders;
* ``sphinx_multitoc_numbering`` patches the section numbering, which runs after reading, in the
  main process;
* ``sphinx-mathjax-offline`` only copies MathJax's static files.

No other extension is touched: one that declares itself unsafe stays so.

sphinx-proof declares itself safe but its domain lacks ``merge_domaindata``, which Sphinx calls
to merge each reading process's results. The domain keeps no data of its own (the proofs live
in ``env.proof_list``, which sphinx-proof merges itself on ``env-merge-info``), so there is
nothing to merge: the method added here does nothing.

MyST-NB's ``cache`` execution mode keeps executed notebooks in a jupyter-cache SQLite database,
which each reading process opens, and creates on first use. Two processes that start executing at
once on an empty build folder can both try to create its tables, and one fails with "table
nbproject already exists". So the main process creates the database before reading starts.

Written for the versions pinned in constraints/book.txt: jupyter-book==1.0.4.post1 with
sphinx-jupyterbook-latex==1.0.0, sphinx-multitoc-numbering==0.1.3 and
sphinx-mathjax-offline==0.0.2, sphinx-proof==0.4.0, myst-nb==1.4.0 and sphinx==7.4.7 (a test
fails when the pins move away from the versions named here). After `make constraints` moves one
of them, check whether its part is still needed (each part is harmless where a release has fixed
the problem): delete the part, or name the new version here.
"""

SAFE_WITHOUT_SAYING = (
    "sphinx_jupyterbook_latex",
    "sphinx_multitoc_numbering",
    "sphinx-mathjax-offline",
)


def _declare(app):
    for name in SAFE_WITHOUT_SAYING:
        extension = app.extensions.get(name)
        if extension is not None and extension.parallel_read_safe is None:
            extension.parallel_read_safe = True


def _create_execution_cache(app):
    """Create MyST-NB's jupyter-cache database in the main process, before parallel reading."""
    config = getattr(app.env, "mystnb_config", None)
    if config is None or config.execution_mode != "cache" or not app.parallel:
        return
    from jupyter_cache import get_cache

    get_cache(config.execution_cache_path).db  # noqa: B018 - the property creates the tables


def _nothing_to_merge(domain, docnames, otherdata):
    """ProofDomain.merge_domaindata: its data is only Sphinx's version stamp."""


def setup(app):
    from sphinx_proof.domain import ProofDomain

    if "merge_domaindata" not in vars(ProofDomain):
        ProofDomain.merge_domaindata = _nothing_to_merge
    app.connect("builder-inited", _declare)
    app.connect("builder-inited", _create_execution_cache, priority=900)  # after MyST-NB's config
    return {"parallel_read_safe": True, "parallel_write_safe": True}
