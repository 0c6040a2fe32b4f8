"""Data of the looped-models case study: prefix sums, variable chains, prompt pairs, Levenshtein.

* :func:`prefix_sum_data`: random bit strings x and their prefix sums mod 2,
  y_i = (x_1 + … + x_i) mod 2 (Schwarzschild et al., 2021). Bit i of y depends on every bit up to
  i, so a network whose receptive field grows by a fixed amount per iteration needs more
  iterations for longer strings.
* :func:`~implicit_edu.experiments.reasoning.data.chain_data`: a generated text task for the looped
  transformer. A prompt is a shuffled
  list of statements ``v = w``, where w is a digit or another variable, followed by a query
  ``? v``; the variables form chains ``v_1 = d, v_2 = v_1, …, v_h = v_{h−1}`` that end in a digit
  d, and the answer to ``? v_h`` is d. The queried chain has h *hops*; the other chains are
  distractors. Every statement carries its own target, the digit its variable resolves to (dense
  supervision, which our prototypes found necessary), and its depth.
* :func:`resolve`: the answer of every statement found by following the chains, an independent
  check of :func:`~implicit_edu.experiments.reasoning.data.chain_data`'s targets.
* :func:`perturb_roots`: the same prompts with one or two chain roots changed (one or two words of
  the text), the input pairs of the text L_t.
* :func:`word_levenshtein`: the word-level edit distance of the paper's L_t, by rapidfuzz.
* :func:`semantic_pairs`: the shipped prompt pairs for Huginn (``semantic_pairs.json``), pairs that
  differ in one or two words which change the domain, in the style of the paper.
"""

from __future__ import annotations

import json
import string
from collections.abc import Sequence
from importlib import resources

import numpy as np
import torch
from rapidfuzz.distance import Levenshtein

__all__ = [
    "prefix_sum_data",
    "NAMES",
    "query_token",
    "vocabulary_size",
    "chain_data",
    "resolve",
    "perturb_roots",
    "prompt_text",
    "answer_text",
    "word_levenshtein",
    "semantic_pairs",
]


def prefix_sum_data(num: int, bits: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)``: ``num`` random strings of ``bits`` bits and their prefix sums mod 2.

    Both are int64 tensors of shape (num, bits); the same seed gives the same strings (a
    :class:`torch.Generator` seeded with ``seed`` draws them).
    """
    if not (isinstance(num, int) and num >= 0 and isinstance(bits, int) and bits >= 1):
        raise ValueError(f"need num ≥ 0 strings of bits ≥ 1, got num={num!r}, bits={bits!r}")
    generator = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 2, (num, bits), generator=generator)
    return x, torch.cumsum(x, dim=1) % 2


# ------------------------------------------------------------------------- variable chains

#: Variable names, one word each; token id 10 + i is ``NAMES[i]`` (ids 0–9 are the digits).
NAMES: tuple[str, ...] = tuple(string.ascii_lowercase + string.ascii_uppercase)


def query_token(names: int) -> int:
    """The token id of ``?`` (the left side of the query) for a vocabulary of ``names`` names."""
    return 10 + names


def vocabulary_size(names: int) -> int:
    """Ten digits, ``names`` variable names and ``?``."""
    return names + 11


def _word(token: int, names: int) -> str:
    if token < 10:
        return str(token)
    if token == query_token(names):
        return "?"
    return NAMES[token - 10]


def chain_data(
    num: int,
    hops: int | Sequence[int],
    statements: int,
    seed: int,
    names: int = 52,
    max_distractor: int = 8,
) -> dict[str, torch.Tensor]:
    """``num`` prompts of ``statements`` statements and a query, as token ids and targets.

    Args:
        num: number of prompts.
        hops: the queried chain's number of hops h, or several values drawn uniformly per prompt.
        statements: statements per prompt (without the query); at least max(hops).
        seed: seed of the random generator (the same seed gives the same prompts).
        names: size of the pool of variable names (≤ 52); every prompt uses ``statements``
            different ones.
        max_distractor: the longest distractor chain; the statements left after the queried chain
            are split into distractor chains of random lengths 1 … max_distractor.

    Returns:
        ``tokens`` (num, n + 1, 2): each statement's [left, right] token ids, the query
        ``[?, v_h]`` last; ``targets`` (num, n + 1): the digit each statement resolves to (the
        query's is the answer); ``depth`` (num, n + 1): the hops from the statement to its digit
        (1 for ``v = d``; h + 1 for the query); ``hops`` (num,); ``chance`` (num,): the share of
        the prompt's chains whose root digit is the answer, the accuracy of guessing a random root
        digit of the prompt.
    """
    hop_values = (hops,) if isinstance(hops, int) else tuple(hops)
    if not hop_values or min(hop_values) < 1 or max(hop_values) > statements:
        raise ValueError(f"hops must lie in 1 … statements={statements}, got {hops!r}")
    if not 1 <= names <= len(NAMES) or statements > names:
        raise ValueError(
            f"need statements ≤ names ≤ {len(NAMES)}, got names={names}, statements={statements}"
        )
    if max_distractor < 1:
        raise ValueError(f"max_distractor must be ≥ 1, got {max_distractor}")
    rng = np.random.default_rng(seed)
    n = statements
    tokens = np.zeros((num, n + 1, 2), dtype=np.int64)
    targets = np.zeros((num, n + 1), dtype=np.int64)
    depth = np.zeros((num, n + 1), dtype=np.int64)
    hop_out = np.zeros(num, dtype=np.int64)
    chance = np.zeros(num, dtype=np.float64)
    for i in range(num):
        h = int(rng.choice(hop_values))
        lengths = [h]
        left = n - h
        while left > 0:
            length = min(int(rng.integers(1, max_distractor + 1)), left)
            lengths.append(length)
            left -= length
        variables = 10 + rng.permutation(names)[:n]
        roots = rng.integers(0, 10, size=len(lengths))
        rows, position = [], 0
        for length, root in zip(lengths, roots, strict=True):
            previous = int(root)
            for d in range(1, length + 1):
                v = int(variables[position])
                rows.append((v, previous, int(root), d))
                previous, position = v, position + 1
        order = rng.permutation(n)
        for j, k in enumerate(order):
            tokens[i, j, 0], tokens[i, j, 1], targets[i, j], depth[i, j] = rows[k]
        last = rows[h - 1]  # v_h of the queried chain (the first chain)
        tokens[i, n] = (query_token(names), last[0])
        targets[i, n], depth[i, n] = last[2], h + 1
        hop_out[i] = h
        chance[i] = float(np.mean(roots == roots[0]))
    return {
        "tokens": torch.from_numpy(tokens),
        "targets": torch.from_numpy(targets),
        "depth": torch.from_numpy(depth),
        "hops": torch.from_numpy(hop_out),
        "chance": torch.from_numpy(chance),
    }


def resolve(tokens: torch.Tensor, names: int = 52) -> tuple[torch.Tensor, torch.Tensor]:
    """``(values, depth)`` of every statement, found by following the chains (a reference).

    A statement ``v = d`` has value d and depth 1; ``v = w`` has w's value and depth one more
    than w's; the query ``? v`` has v's value and depth one more than v's. Raises ValueError when
    a variable is undefined or defined twice, or the chains have a cycle.
    """
    values = torch.zeros(tokens.shape[:2], dtype=torch.int64)
    depths = torch.zeros(tokens.shape[:2], dtype=torch.int64)
    for i, prompt in enumerate(tokens.tolist()):
        defined = {}
        for left, right in prompt:
            if left != query_token(names):
                if left in defined:
                    raise ValueError(f"prompt {i} defines {_word(left, names)} twice")
                defined[left] = right
        for j, (_, right) in enumerate(prompt):
            hops, seen = 1, set()
            while right >= 10:
                if right not in defined or right in seen:
                    raise ValueError(f"prompt {i}: {_word(right, names)} undefined or cyclic")
                seen.add(right)
                right, hops = defined[right], hops + 1
            values[i, j], depths[i, j] = right, hops
    return values, depths


def perturb_roots(
    data: dict[str, torch.Tensor], changes: int, seed: int, names: int = 52
) -> dict[str, torch.Tensor]:
    """The prompts of ``data`` with the root digits of ``changes`` (1 or 2) chains changed.

    The queried chain's root always changes (so the answer changes); with ``changes=2`` so does
    the root of one other chain, where the prompt has one. Each new digit differs from the old.
    Returns a dict like :func:`~implicit_edu.experiments.reasoning.data.chain_data`'s, with targets
    and depths recomputed by :func:`resolve`.
    """
    if changes not in (1, 2):
        raise ValueError(f"changes must be 1 or 2, got {changes!r}")
    rng = np.random.default_rng(seed)
    tokens = data["tokens"].clone()
    for i in range(tokens.shape[0]):
        roots = [j for j in range(tokens.shape[1] - 1) if int(tokens[i, j, 1]) < 10]
        main = _root_of(tokens[i], tokens.shape[1] - 1)  # the root of the queried chain
        chosen = [main]
        others = [j for j in roots if j != main]
        if changes == 2 and others:
            chosen.append(int(rng.choice(others)))
        for j in chosen:
            old = int(tokens[i, j, 1])
            tokens[i, j, 1] = int((old + rng.integers(1, 10)) % 10)
    values, depths = resolve(tokens, names)
    out = dict(data)
    out.update(tokens=tokens, targets=values, depth=depths)
    return out


def _root_of(prompt: torch.Tensor, j: int) -> int:
    """The index of the root statement (``v = d``) of statement j's chain."""
    defined = {int(left): k for k, (left, _) in enumerate(prompt.tolist())}
    right = int(prompt[j, 1])
    k = j
    while right >= 10:
        k = defined[right]
        right = int(prompt[k, 1])
    return k


def prompt_text(tokens: torch.Tensor, names: int = 52) -> str:
    """One prompt (n + 1, 2) as text: ``"b = x ; x = 3 ; … ; ? b"``."""
    words = []
    for left, right in tokens.tolist():
        if left == query_token(names):
            words += ["?", _word(right, names)]
        else:
            words += [_word(left, names), "=", _word(right, names), ";"]
    return " ".join(words)


def answer_text(digits: torch.Tensor) -> str:
    """A model's output for one prompt, the digit of every statement: ``"3 3 7 … 3"``."""
    return " ".join(str(d) for d in digits.tolist())


# ----------------------------------------------------------------------------- text distances


def word_levenshtein(a: str | Sequence[str], b: str | Sequence[str]) -> int:
    """The word-level Levenshtein distance: the fewest word insertions, deletions and
    substitutions that turn a into b. Strings are split on whitespace; sequences of words are used
    as they are. Computed by ``rapidfuzz.distance.Levenshtein`` on the lists of words."""
    words_a = a.split() if isinstance(a, str) else list(a)
    words_b = b.split() if isinstance(b, str) else list(b)
    return int(Levenshtein.distance(words_a, words_b))


def semantic_pairs() -> list[tuple[str, str]]:
    """The shipped prompt pairs (``semantic_pairs.json`` in this package), in the file's order.

    Each pair differs in one or two words that change the domain of the question, as in the
    paper's "Explain the difference between charge and voltage" / "… charge and pay".
    """
    source = resources.files("implicit_edu.experiments.reasoning").joinpath("semantic_pairs.json")
    pairs = json.loads(source.read_text(encoding="utf-8"))["pairs"]
    return [(str(a), str(b)) for a, b in pairs]
