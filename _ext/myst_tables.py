"""Let the chapters' kernels know that they run inside the book build.

``implicit_edu.runtime.notebook.captioned_table`` writes a table with a caption as a MyST
``{table}`` directive, which MyST-NB parses in a cell's Markdown output
(``nb_render_markdown_format: myst`` in ``_config.yml``), so that the table is numbered and
``{numref}`` can link to it. Plain Jupyter and Colab would show such a directive as raw text, so
the function writes it only where ``IMPLICIT_EDU_MYST_TABLES=1``. This extension sets that variable
in the Sphinx process when the build starts; the kernels that MyST-NB starts to execute the
chapters inherit it, in parallel reading processes too (they are forked after ``setup``).

Written for myst-nb==1.4.0 (which parses a cell's Markdown output as MyST and starts the kernels
with the build's environment) and sphinx==7.4.7; a test fails when the pins move, as a reminder
to check that tables still come out numbered.
"""

import os

VARIABLE = "IMPLICIT_EDU_MYST_TABLES"  # implicit_edu.runtime.notebook.MYST_TABLES_VARIABLE


def setup(app):
    os.environ[VARIABLE] = "1"
    return {"parallel_read_safe": True, "parallel_write_safe": True}
