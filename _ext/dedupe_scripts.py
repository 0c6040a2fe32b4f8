"""Drop repeated <script> tags from the pages.

Sphinx 7.4 registers some inline scripts of sphinx-thebe and sphinx-togglebutton twice, which
makes every page throw "Identifier 'THEBE_JS_URL' has already been declared" in the browser.

A workaround for one release: written for sphinx==7.4.7, sphinx-thebe==0.3.1 and
sphinx-togglebutton==0.4.5, the versions pinned in constraints/book.txt (a test fails when the pins
move away from the versions named here). After `make constraints` moves one of them, build the
book without this extension: if no page repeats a script, delete it; if some still do, name the
new versions here.
"""


def _dedupe(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen, unique = set(), []
    for js in scripts:
        attributes = getattr(js, "attributes", {})
        key = (str(getattr(js, "filename", js) or ""), tuple(sorted(attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    scripts[:] = unique


def setup(app):
    app.connect("html-page-context", _dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
