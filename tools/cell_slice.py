"""Which notebook cells an exercise needs: the names cells read and bind, and a backward slice.

The test that executes every chapter's student copy (tests/test_assignments.py) runs only the
cells its exercise checks depend on, so that figures and experiments the exercises never read do
not cost CI time. A name that a kept cell reads is bound exactly as in the whole notebook, so a
``NameError`` in the whole copy is a ``NameError`` in the slice too.

Only top-level Python is analysed (no IPython magics; the chapters have none). Function bodies read
their names when called, so a name a function reads and the cell binds anywhere is the cell's own.
Elsewhere the analysis is conservative: reading a name that a cell binds only later, or only in a
branch, counts as reading it.
"""

from __future__ import annotations

import ast

import nbformat

_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)


class _Names(ast.NodeVisitor):
    """Free names read by a cell (``reads``) and names it binds at its top level (``binds``)."""

    def __init__(self) -> None:
        self.reads: set[str] = set()
        self.binds: set[str] = set()
        self.scopes: list[set[str]] = []  # names local to enclosing functions and comprehensions
        self.deferred: set[str] = set()  # read inside function bodies, which run when called
        self.in_function = 0

    def _bind(self, name: str) -> None:
        (self.scopes[-1] if self.scopes else self.binds).add(name)

    def _read(self, name: str) -> None:
        if name not in self.binds and not any(name in scope for scope in self.scopes):
            (self.deferred if self.in_function else self.reads).add(name)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self._read(node.id)
        else:
            self._bind(node.id)

    def visit_Assign(self, node: ast.Assign) -> None:  # the value is evaluated first
        self.visit(node.value)
        for target in node.targets:
            self.visit(target)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
        self.visit(node.target)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:  # `W *= 2` reads W
        self.visit(node.value)
        if isinstance(node.target, ast.Name):
            self._read(node.target.id)
        self.visit(node.target)

    def visit_For(self, node: ast.For) -> None:
        self.visit(node.iter)
        self.visit(node.target)
        for statement in node.body + node.orelse:
            self.visit(statement)

    def visit_Import(self, node: ast.Import | ast.ImportFrom) -> None:
        for alias in node.names:
            self._bind((alias.asname or alias.name).split(".")[0])

    visit_ImportFrom = visit_Import

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is not None:
            self.visit(node.type)
        if node.name:
            self._bind(node.name)
        for statement in node.body:
            self.visit(statement)

    def _function(self, local: set[str], body: list[ast.AST]) -> None:
        self.in_function += 1
        self._scope(local, body)
        self.in_function -= 1

    def _scope(self, local: set[str], body: list[ast.AST]) -> None:
        for part in body:  # every name assigned in a function body is local to it
            for leaf in ast.walk(part):
                if isinstance(leaf, ast.Name) and not isinstance(leaf.ctx, ast.Load):
                    local.add(leaf.id)
        self.scopes.append(local)
        for part in body:
            self.visit(part)
        self.scopes.pop()

    def _arguments(self, args: ast.arguments) -> set[str]:
        for default in [*args.defaults, *(d for d in args.kw_defaults if d is not None)]:
            self.visit(default)
        every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
        return {a.arg for a in every if a is not None}

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for decorator in node.decorator_list:
            self.visit(decorator)
        self._bind(node.name)
        self._function(self._arguments(node.args), node.body)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._function(self._arguments(node.args), [node.body])

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for part in [*node.decorator_list, *node.bases, *node.keywords]:
            self.visit(part)
        self._bind(node.name)
        self._scope(set(), node.body)

    def _comprehension(self, node: ast.AST, results: list[ast.AST]) -> None:
        first, *rest = node.generators
        self.visit(first.iter)  # evaluated in the enclosing scope
        local = {
            leaf.id
            for generator in node.generators
            for leaf in ast.walk(generator.target)
            if isinstance(leaf, ast.Name)
        }
        parts = [*first.ifs, *(p for g in rest for p in (g.iter, *g.ifs)), *results]
        self.scopes.append(local)
        for part in parts:
            self.visit(part)
        self.scopes.pop()

    def visit_ListComp(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp) -> None:
        self._comprehension(node, [node.elt])

    visit_SetComp = visit_GeneratorExp = visit_ListComp

    def visit_DictComp(self, node: ast.DictComp) -> None:
        self._comprehension(node, [node.key, node.value])


def reads_and_binds(source: str) -> tuple[set[str], set[str]]:
    """The names a cell reads before binding them, and the names it binds at its top level."""
    names = _Names()
    names.visit(ast.parse(source))
    return names.reads | (names.deferred - names.binds), names.binds


def rebinds(source: str) -> set[str]:
    """The names a cell rebinds outright: unconditional top-level assignments, defs and imports."""
    names = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(
                leaf.id for t in targets for leaf in ast.walk(t) if isinstance(leaf, ast.Name)
            )
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


def backward_slice(nb: nbformat.NotebookNode, is_target) -> nbformat.NotebookNode:
    """The code cells of ``nb`` that the cells with ``is_target(source)`` need, in their order.

    Every target cell is kept, and every earlier cell that binds a name a kept later cell reads,
    back to the latest cell that rebinds the name outright. Cells that bind nothing
    (``torch.set_default_dtype(...)``) are kept too, since they may set state.
    """
    needed: set[str] = set()
    kept = []
    for cell in reversed([c for c in nb.cells if c.cell_type == "code"]):
        reads, binds = reads_and_binds(cell.source)
        if is_target(cell.source) or not binds or binds & needed:
            kept.append(cell)
            needed = (needed - rebinds(cell.source)) | reads
    sliced = nbformat.v4.new_notebook(metadata=nb.metadata)
    sliced.cells = kept[::-1]
    return sliced
