"""Checks for the exercises of the chapter "Looped models and reasoning" (Part IV)."""

from __future__ import annotations

import math

from rapidfuzz.distance import Levenshtein

from implicit_edu.exercises._common import (
    WrongAnswer,
    check_close,
    check_value,
    correct,
    require_callable,
    require_number,
)

#: String lengths at which ``iterations_needed`` is tested.
_BITS = (16, 17, 64, 128, 250, 256, 1000)


def _fewest(reach: int, growth: int):
    """L ↦ the fewest r with growth · r + reach ≥ L − 1: the iterations after which a field of
    radius growth · r + reach around the last bit reaches the first one."""
    return lambda L: max(0, -(-(L - 1 - reach) // growth))


def check_iterations_needed(iterations_needed) -> bool:
    """Exercise: ``iterations_needed(bits)``, the fewest iterations r at which the recurrent
    prefix-sum net ``RecurrentConvNet`` can get the last bit of every ``bits``-bit string right.

    Every convolution has kernel 3 (radius 1): P is one, an iteration of the core five, C three,
    so the last output sees 5r + 4 bits to its left and needs all L − 1 of them.
    """
    iterations_needed = require_callable(iterations_needed, "iterations_needed(bits)")
    answers = {L: require_number(iterations_needed(L), f"iterations_needed({L})") for L in _BITS}
    for L, value in answers.items():
        if value != round(value):
            raise WrongAnswer(
                f"iterations_needed({L}) = {value:g} is not a whole number: the net runs a "
                "whole number of iterations; take the smallest one that suffices."
            )
    reference = _fewest(4, 5)
    first = next((L for L in _BITS if answers[L] != reference(L)), _BITS[0])  # named in the hint
    growth = (
        "the receptive field grows by 5 positions per iteration: one iteration applies 5 "
        "convolutions of radius 1 (the recall convolution and two residual blocks of two)."
    )
    kernel = "a convolution of kernel 3 reaches 1 position to each side: its radius is 1, not 3."
    sides = "the field widens on both sides, but the inputs of the last bit all lie to its left."
    hints = [
        (
            _fewest(0, 5),
            "the projection P (one convolution) and the readout C (three) widen the receptive "
            "field too.",
        ),
        (
            lambda L: reference(L) + 1,
            "one iteration too many: the last bit needs to see the L − 1 bits to its left (not "
            "L), and P and C already reach 4 of them.",
        ),
        (
            lambda L: reference(L) - 1,
            "one iteration too few: the first bit must lie inside the receptive field of the "
            "last output.",
        ),
        (
            lambda L: (L - 5) // 5,
            "round up, not down: with ⌊(L − 5)/5⌋ iterations the first bit can lie just outside "
            "the receptive field of the last output.",
        ),
        *((_fewest(reach, step), growth) for step in (1, 2, 3, 4) for reach in (0, 4)),
        *((_fewest(reach, 15), kernel) for reach in (0, 12)),
        *((_fewest(reach, 10), sides) for reach in (0, 4, 8)),
    ]
    return check_close(
        list(answers.values()),
        [reference(L) for L in _BITS],
        what="iterations_needed(bits)",
        rtol=0,
        atol=0,
        prefix=f"iterations_needed({first}) = {answers[first]:g} is not right: ",
        known_wrong=[([wrong(L) for L in _BITS], hint) for wrong, hint in hints],
        otherwise="the output at position i depends only on the inputs within a distance of i "
        "that grows with r, and the last bit of a prefix sum depends on the first, L − 1 "
        "positions away. Count the radius-1 convolutions in P, in one iteration of the core and "
        "in C.",
        exercise="the iterations a prefix sum needs",
    )


#: (out_x, out_y, x, y): outputs and prompts of hand-made pairs, with insertions and deletions.
_TEXT_PAIRS = (
    (
        "Charge is the amount of electricity stored in a body",
        "Charge is the money you pay for a service",
        "Explain the difference between charge and voltage",
        "Explain the difference between charge and pay",
    ),
    (
        "the cat sat on the mat",
        "a cat sat on the red mat",
        "Where did the cat sit",
        "Where did the black cat sit",
    ),
    ("3 3 7 3 3", "5 5 7 5 5 5", "a = 3 ; b = a ; ? b", "a = 5 ; b = a ; ? b"),
    (
        "one two three four five",
        "two three four five",
        "Name five numbers please",
        "Name five small numbers",
    ),
)


def _word_hamming(a: str, b: str) -> int:
    words_a, words_b = a.split(), b.split()
    shared = sum(u != v for u, v in zip(words_a, words_b, strict=False))
    return shared + abs(len(words_a) - len(words_b))


def check_text_ratio(text_ratio) -> bool:
    """Exercise: ``text_ratio(out_x, out_y, x, y)``, the paper's text Lipschitz ratio of one pair,
    Lev(out_x, out_y) / Lev(x, y) with Lev the word-level Levenshtein distance.

    The ratio is undefined for x = y (Lev(x, y) = 0); the check uses pairs of different prompts.
    """
    from implicit_edu.experiments.reasoning import word_levenshtein as lev

    text_ratio = require_callable(text_ratio, "text_ratio(out_x, out_y, x, y)")
    answers = {
        pair: require_number(text_ratio(*pair), f"text_ratio({pair[0]!r}, …)")
        for pair in _TEXT_PAIRS
    }
    want = {pair: lev(pair[0], pair[1]) / lev(pair[2], pair[3]) for pair in _TEXT_PAIRS}
    first = next(
        (pair for pair in _TEXT_PAIRS if not math.isclose(answers[pair], want[pair], rel_tol=1e-9)),
        _TEXT_PAIRS[0],
    )  # named in the hint

    def normalised(a: str, b: str) -> float:
        return Levenshtein.normalized_distance(a.split(), b.split())

    hints = [
        (
            lambda ox, oy, x, y: Levenshtein.distance(ox, oy) / Levenshtein.distance(x, y),
            "count edits of words, not of characters: split the texts on whitespace.",
        ),
        (
            lambda ox, oy, x, y: lev(x, y) / lev(ox, oy),
            "the ratio is inverted: the distance of the outputs goes on top, the distance of the "
            "prompts below.",
        ),
        (
            lambda ox, oy, x, y: _word_hamming(ox, oy) / _word_hamming(x, y),
            "comparing the words position by position counts every word after an insertion as "
            "changed; the Levenshtein distance lets an insertion or deletion shift the rest.",
        ),
        (
            lambda ox, oy, x, y: normalised(ox, oy) / normalised(x, y),
            "use the plain edit count: a normalised distance divides each by a different length.",
        ),
    ]
    return check_close(
        list(answers.values()),
        list(want.values()),
        what="text_ratio",
        rtol=1e-9,
        atol=0,
        prefix=f"text_ratio{first!r} is not right: ",
        known_wrong=[([wrong(*pair) for pair in _TEXT_PAIRS], hint) for wrong, hint in hints],
        otherwise="Lev(a, b) is the fewest word insertions, deletions and substitutions that "
        "turn a into b; divide the distance of the outputs by the distance of the prompts.",
        exercise="the text Lipschitz ratio of a pair",
    )


#: (hops, changes, other_length) at which ``true_ratio`` is tested, changes=1 first.
_CHAIN_CASES = ((3, 1, 0), (6, 1, 0), (1, 1, 0), (12, 1, 0), (4, 2, 7), (2, 2, 5), (9, 2, 3))


def check_true_ratio(true_ratio) -> bool:
    """Exercise: ``true_ratio(hops, changes=1, other_length=0)``, the text ratio of the true
    answers of the variable-chain task when ``changes`` root digits change: the queried chain's
    and, for ``changes=2``, that of another chain of ``other_length`` statements.

    The answer texts then differ in hops + 1 (+ other_length) words, the prompts in ``changes``.
    (For ``changes=2`` their word-level Levenshtein distance is smaller in a few pairs, where
    a shift of the words lines up some of the changed digits.)
    """
    true_ratio = require_callable(true_ratio, "true_ratio(hops, changes, other_length)")
    for h, c, m in _CHAIN_CASES:
        call = f"true_ratio({h}, {c}, {m})"
        got = require_number(true_ratio(h, c, m), call)
        other = m if c == 2 else 0
        check_value(
            got,
            (h + 1 + other) / c,
            prefix=f"{call} = {got:g} is not right: ",
            known_wrong=[
                (
                    (h + other) / c,
                    "the query ? v_h resolves to the root digit as well: its output changes too.",
                ),
                (
                    (h + 2 + other) / c,
                    "the root statement v_1 = d is one of the h statements of the chain: count it "
                    "once.",
                ),
                (
                    1,
                    "all h statements of the queried chain resolve to its root digit, so all of "
                    "their outputs change, not only the root's.",
                ),
                (
                    (h + 1) / 2 if c == 1 else None,
                    "changing one digit of the prompt is one substitution: Lev(x, x′) = 1.",
                ),
                (
                    h + 1 + other if c == 2 else None,
                    "the prompts now differ in 2 words: divide by Lev(x, x′) = 2.",
                ),
                (
                    (h + 1) / 2 if c == 2 else None,
                    "the other_length statements of the other chain resolve to its new root "
                    "digit: their outputs change too.",
                ),
            ],
            otherwise="count the words in which the two answer texts differ (one per statement "
            "whose digit changes, and the query), and divide by the words in which the prompts "
            "differ.",
        )
    return correct("the text ratio of the true answers")
