"""The checks of the chapter "Looped models and reasoning" accept the reference answers and reject
typical wrong ones; the references agree with the real models and data."""

from __future__ import annotations

import math

import pytest
import torch
from rapidfuzz.distance import Levenshtein

from implicit_edu.exercises import reasoning as check
from implicit_edu.experiments.reasoning import (
    RecurrentConvNet,
    answer_text,
    chain_data,
    perturb_roots,
    prompt_text,
    word_levenshtein,
)

# --- the iterations a prefix sum needs --------------------------------------------------------


def _reference_iterations(L):
    return max(0, math.ceil((L - 5) / 5))


def _influence_radius(model, length, r, generator):
    """The largest distance from the last position of an input bit with a nonzero gradient of the
    last position's logits after r iterations, over a batch of random strings."""
    bits = torch.randint(0, 2, (16, length), generator=generator)
    x = bits.to(torch.float64).requires_grad_(True)
    model(x, r)[:, :, -1].sum().backward()
    reached = (x.grad != 0).any(dim=0).nonzero().flatten()
    return length - 1 - int(reached.min())


def test_iterations_reference_matches_the_receptive_field_of_the_real_net():
    torch.manual_seed(0)
    model = RecurrentConvNet(width=8, blocks=2).double()
    generator = torch.Generator().manual_seed(0)
    radius = [_influence_radius(model, 60, r, generator) for r in range(5)]
    assert radius == [5 * r + 4 for r in range(5)]
    for L in range(2, 26):  # the fewest r whose field reaches the first bit
        fewest = min(r for r in range(5) if radius[r] >= L - 1)
        assert _reference_iterations(L) == fewest


def test_iterations_needed_accepts_the_reference():
    assert check.check_iterations_needed(_reference_iterations)
    assert check.check_iterations_needed(lambda L: -(-(L - 5) // 5))


@pytest.mark.parametrize(
    ("wrong", "match"),
    [
        (lambda L: math.ceil((L - 1) / 5), "readout"),
        (lambda L: math.ceil(L / 5), "too many"),
        (lambda L: _reference_iterations(L) + 1, "too many"),
        (lambda L: _reference_iterations(L) - 1, "too few"),
        (lambda L: (L - 5) // 5, "not down"),
        (lambda L: (L - 5) / 5, "whole number"),
        (lambda L: L / 5, "whole number"),
        (lambda L: math.ceil((L - 1) / 2), "grows by 5"),
        (lambda L: math.ceil((L - 1) / 3), "grows by 5"),
        (lambda L: L - 5, "grows by 5"),
        (lambda L: math.ceil((L - 13) / 15), "radius is 1"),
        (lambda L: math.ceil((L - 5) / 10), "both sides"),
        (lambda L: 2 * L, "Count the radius-1"),
        (lambda L: "many", "expected a number"),
        (..., "replace the `...`"),
        (3, "expected a function"),
    ],
)
def test_iterations_needed_rejects(wrong, match):
    with pytest.raises(AssertionError, match=match):
        check.check_iterations_needed(wrong)


# --- the text Lipschitz ratio of a pair -------------------------------------------------------


def _reference_text_ratio(out_x, out_y, x, y):
    return word_levenshtein(out_x, out_y) / word_levenshtein(x, y)


def _word_hamming(a, b):
    a, b = a.split(), b.split()
    return sum(u != v for u, v in zip(a, b, strict=False)) + abs(len(a) - len(b))


def test_text_ratio_accepts_the_reference():
    assert check.check_text_ratio(_reference_text_ratio)

    def mine(out_x, out_y, x, y):
        return Levenshtein.distance(out_x.split(), out_y.split()) / Levenshtein.distance(
            x.split(), y.split()
        )

    assert check.check_text_ratio(mine)


@pytest.mark.parametrize(
    ("wrong", "match"),
    [
        (
            lambda ox, oy, x, y: Levenshtein.distance(ox, oy) / Levenshtein.distance(x, y),
            "not of characters",
        ),
        (lambda ox, oy, x, y: word_levenshtein(x, y) / word_levenshtein(ox, oy), "inverted"),
        (lambda ox, oy, x, y: _word_hamming(ox, oy) / _word_hamming(x, y), "position by position"),
        (
            lambda ox, oy, x, y: (
                Levenshtein.normalized_distance(ox.split(), oy.split())
                / Levenshtein.normalized_distance(x.split(), y.split())
            ),
            "normalised",
        ),
        (lambda ox, oy, x, y: word_levenshtein(ox, oy), "fewest word insertions"),
        (lambda ox, oy, x, y: None, "replace the `...`"),
        (..., "replace the `...`"),
    ],
)
def test_text_ratio_rejects(wrong, match):
    with pytest.raises(AssertionError, match=match):
        check.check_text_ratio(wrong)


# --- the text ratio of the true answers -------------------------------------------------------


def _reference_true_ratio(hops, changes=1, other_length=0):
    return (hops + 1 + (other_length if changes == 2 else 0)) / changes


def _true_pairs(changes):
    """(hops, other_length, Lev of the prompts, Lev of the true answers, changed answer words)
    for pairs of the variable-chain task whose roots are perturbed."""
    data = chain_data(60, (2, 3, 5, 8), 20, seed=0)
    changed = perturb_roots(data, changes, seed=1)
    for i in range(60):
        hops = int(data["hops"][i])
        differ = data["targets"][i] != changed["targets"][i]
        yield (
            hops,
            int(differ[:-1].sum()) - hops,  # statements (not the query) off the queried chain
            word_levenshtein(prompt_text(data["tokens"][i]), prompt_text(changed["tokens"][i])),
            word_levenshtein(answer_text(data["targets"][i]), answer_text(changed["targets"][i])),
            int(differ.sum()),
        )


def test_true_ratio_reference_matches_the_chain_data_for_one_change():
    for hops, other, prompts, answers, _ in _true_pairs(changes=1):
        assert (other, prompts) == (0, 1)
        assert answers / prompts == _reference_true_ratio(hops)


def test_true_ratio_reference_matches_the_chain_data_for_two_changes():
    exact = 0
    for hops, other, prompts, answers, differ in _true_pairs(changes=2):
        assert other >= 1 and prompts == 2
        assert differ / prompts == _reference_true_ratio(hops, 2, other)
        # the edit distance may line up a few changed digits by a shift, never more
        assert answers <= differ
        exact += answers == differ
    assert exact >= 50


def test_true_ratio_accepts_the_reference():
    assert check.check_true_ratio(_reference_true_ratio)


@pytest.mark.parametrize(
    ("wrong", "match"),
    [
        (lambda h, c=1, m=0: h, "root digit as well"),
        (lambda h, c=1, m=0: (h + (m if c == 2 else 0)) / c, "root digit as well"),
        (lambda h, c=1, m=0: h + 2, "once"),
        (lambda h, c=1, m=0: 1, "all of their"),
        (lambda h, c=1, m=0: (h + 1) / 2, "substitution"),
        (lambda h, c=1, m=0: h + 1 + (m if c == 2 else 0), "differ in 2 words"),
        (lambda h, c=1, m=0: (h + 1) / c, "other chain"),
        (lambda h, c=1, m=0: 2 * h, "count the words"),
        (lambda h, c=1, m=0: "h + 1", "expected a number"),
        (..., "replace the `...`"),
        ("h + 1", "expected a function"),
    ],
)
def test_true_ratio_rejects(wrong, match):
    with pytest.raises(AssertionError, match=match):
        check.check_true_ratio(wrong)
