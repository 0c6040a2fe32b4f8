"""The looped-models case study: data, distances, shipped pairs, looped models, training, Huginn."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from implicit_edu.experiments.reasoning import data, evaluate, huginn, train
from implicit_edu.experiments.reasoning.config import KINDS, config
from implicit_edu.experiments.reasoning.models import (
    ExplicitTransformer,
    FeedForwardConvNet,
    LoopedTransformer,
    RecurrentConvNet,
    matched_transformer_width,
    matched_width,
    parameter_count,
)

# ----------------------------------------------------------------------------- distances


def _edit_distance(a: list[str], b: list[str]) -> int:
    """The textbook dynamic program for the Levenshtein distance (the reference)."""
    previous = list(range(len(b) + 1))
    for i, word in enumerate(a, start=1):
        current = [i]
        for j, other in enumerate(b, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != other))
            )
        previous = current
    return previous[-1]


def test_word_levenshtein_against_a_dynamic_program():
    rng = random.Random(0)
    vocabulary = "the a cell charge field bank voltage pay physics of in explain what".split()
    for _ in range(300):
        a = [rng.choice(vocabulary) for _ in range(rng.randint(0, 12))]
        b = [rng.choice(vocabulary) for _ in range(rng.randint(0, 12))]
        assert data.word_levenshtein(a, b) == _edit_distance(a, b)
        assert data.word_levenshtein(" ".join(a), " ".join(b)) == _edit_distance(a, b)


def test_word_levenshtein_counts_words_not_characters():
    one = "Explain the difference between charge and voltage"
    other = "Explain the difference between charge and pay"
    assert data.word_levenshtein(one, other) == 1
    assert data.word_levenshtein("a b c", "a c") == 1
    assert data.word_levenshtein("", "two words") == 2
    assert data.word_levenshtein(["multi word", "x"], ["multi word", "y"]) == 1


# ----------------------------------------------------------------------------- prompt pairs


def test_semantic_pairs_differ_in_one_or_two_words_and_never_repeat():
    pairs = data.semantic_pairs()
    assert len(pairs) >= 200
    assert all(isinstance(a, str) and isinstance(b, str) and a and b for a, b in pairs)
    distances = [data.word_levenshtein(a, b) for a, b in pairs]
    wrong = [p for p, d in zip(pairs, distances, strict=True) if d not in (1, 2)]
    assert not wrong, wrong
    assert len({frozenset(pair) for pair in pairs}) == len(pairs), "a pair repeats"
    sentences = [s for pair in pairs for s in pair]
    assert len(set(sentences)) == len(sentences), "a prompt appears in two pairs"
    assert pairs[0] == (
        "Explain the difference between charge and voltage",
        "Explain the difference between charge and pay",
    )


def test_semantic_pairs_ship_inside_the_package(root: Path):
    path = root / "implicit_edu" / "experiments" / "reasoning" / "semantic_pairs.json"
    assert json.loads(path.read_text())["pairs"][0] == list(data.semantic_pairs()[0])
    pyproject = (root / "pyproject.toml").read_text()
    assert '"implicit_edu.experiments.reasoning" = ["semantic_pairs.json"]' in pyproject


# ----------------------------------------------------------------------------- prefix sums


def test_prefix_sum_targets_are_the_prefix_sums_and_deterministic():
    x, y = data.prefix_sum_data(50, 24, seed=3)
    assert x.shape == y.shape == (50, 24) and x.dtype == y.dtype == torch.int64
    assert set(x.unique().tolist()) == {0, 1}
    for row, target in zip(x.tolist(), y.tolist(), strict=True):
        total = 0
        for bit, expected in zip(row, target, strict=True):
            total += bit
            assert expected == total % 2
    again = data.prefix_sum_data(50, 24, seed=3)
    assert torch.equal(again[0], x) and torch.equal(again[1], y)
    assert not torch.equal(data.prefix_sum_data(50, 24, seed=4)[0], x)
    with pytest.raises(ValueError):
        data.prefix_sum_data(5, 0, seed=0)


# ----------------------------------------------------------------------------- variable chains


def test_chain_data_targets_and_depths_match_a_reference_resolver():
    chains = data.chain_data(40, (1, 3, 5), statements=12, seed=1, max_distractor=4)
    n = 12
    assert chains["tokens"].shape == (40, n + 1, 2)
    assert chains["targets"].shape == chains["depth"].shape == (40, n + 1)
    values, depths = data.resolve(chains["tokens"])
    assert torch.equal(values, chains["targets"]) and torch.equal(depths, chains["depth"])
    assert set(chains["hops"].tolist()) <= {1, 3, 5}
    assert torch.equal(chains["depth"][:, -1], chains["hops"] + 1)  # the query is one hop more
    assert bool((chains["tokens"][:, -1, 0] == data.query_token(52)).all())
    assert bool((chains["depth"][:, :-1] <= 5).all())  # distractors are at most 4 long
    for prompt in chains["tokens"]:
        left = prompt[:-1, 0].tolist()
        assert len(set(left)) == n and min(left) >= 10  # every statement defines a new variable
    assert bool(((chains["chance"] > 0) & (chains["chance"] <= 1)).all())
    again = data.chain_data(40, (1, 3, 5), statements=12, seed=1, max_distractor=4)
    assert all(torch.equal(again[k], chains[k]) for k in chains)


def test_chain_text_and_bad_input():
    chains = data.chain_data(1, 2, statements=3, seed=0, max_distractor=1)
    text = data.prompt_text(chains["tokens"][0])
    assert text.count("=") == 3 and text.count(";") == 3 and text.split()[-2] == "?"
    assert data.answer_text(chains["targets"][0]).split()[-1] == str(int(chains["targets"][0, -1]))
    with pytest.raises(ValueError, match="hops"):
        data.chain_data(2, 9, statements=8, seed=0)
    with pytest.raises(ValueError, match="names"):
        data.chain_data(2, 2, statements=60, seed=0)


@pytest.mark.parametrize("changes", [1, 2])
def test_perturb_roots_changes_one_or_two_words_and_the_answer(changes):
    chains = data.chain_data(20, 4, statements=12, seed=2, max_distractor=4)
    changed = data.perturb_roots(chains, changes, seed=0)
    for a, b, old, new in zip(
        chains["tokens"], changed["tokens"], chains["targets"], changed["targets"], strict=True
    ):
        distance = data.word_levenshtein(data.prompt_text(a), data.prompt_text(b))
        assert 1 <= distance <= changes
        assert int(old[-1]) != int(new[-1])  # the queried chain's root changed
    assert torch.equal(changed["depth"], chains["depth"])


# ----------------------------------------------------------------------------- models


def test_recurrent_conv_net_is_r_applications_of_its_core():
    torch.manual_seed(0)
    model = RecurrentConvNet(width=8)
    x, _ = data.prefix_sum_data(4, 12, seed=0)
    state, signal = model.initial_state(x), model.signal(x)
    for r in range(1, 6):
        state = model.core(state, signal)
        torch.testing.assert_close(model(x, r), model.readout(state), rtol=0, atol=0)
        torch.testing.assert_close(model.iterates(x, r)[-1], model.readout(state))
    torch.testing.assert_close(model(x, 0), model.readout(model.initial_state(x)))
    assert model(x, 3).shape == (4, 2, 12)
    # the nets read strings of any length
    assert model(data.prefix_sum_data(2, 40, seed=1)[0], 2).shape == (2, 2, 40)


def test_looped_transformer_is_r_applications_of_its_core():
    torch.manual_seed(0)
    model = LoopedTransformer(vocab=data.vocabulary_size(52), width=16, heads=2)
    tokens = data.chain_data(3, 2, statements=5, seed=0, max_distractor=2)["tokens"]
    e = model.embed(tokens)
    state = model.initial_state(e, torch.Generator().manual_seed(7))
    for r in range(1, 5):
        state = model.core(state, e)
        out = model(tokens, r, generator=torch.Generator().manual_seed(7))
        torch.testing.assert_close(out, model.readout(state), rtol=0, atol=0)
        truncated = model(tokens, r, generator=torch.Generator().manual_seed(7), grad_steps=1)
        torch.testing.assert_close(truncated, out)
    states = model.states(tokens, 4, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(states[-1], state)
    assert out.shape == (3, 6, 10)


def test_statements_are_a_set_for_the_transformer():
    """No positions: permuting the statements permutes the outputs."""
    torch.manual_seed(0)
    model = LoopedTransformer(vocab=data.vocabulary_size(52), width=16, heads=2).eval()
    tokens = data.chain_data(2, 3, statements=6, seed=0, max_distractor=3)["tokens"]
    permutation = torch.tensor([3, 0, 5, 1, 4, 2, 6])
    state = torch.randn(2, 7, 16)
    out = model(tokens, 3, state=state)
    moved = model(tokens[:, permutation], 3, state=state[:, permutation])
    torch.testing.assert_close(moved, out[:, permutation], rtol=1e-5, atol=1e-5)


def test_baselines_have_about_the_looped_models_parameters():
    looped = parameter_count(RecurrentConvNet(width=64))
    width = matched_width(looped, depth=20)
    assert abs(parameter_count(FeedForwardConvNet(width, depth=20)) / looped - 1) < 0.05
    # the formula behind matched_width counts what the module holds
    for w, depth in [(5, 3), (16, 20)]:
        model = FeedForwardConvNet(w, depth)
        assert matched_width(parameter_count(model), depth) == w
    vocab = data.vocabulary_size(52)
    target = parameter_count(LoopedTransformer(vocab, width=64, heads=4))
    width = matched_transformer_width(target, heads=4, vocab=vocab, depth=8)
    explicit = ExplicitTransformer(vocab, width=width, heads=4, depth=8)
    assert width % 4 == 0 and abs(parameter_count(explicit) / target - 1) < 0.1


def test_bad_model_input_raises():
    with pytest.raises(ValueError, match="iterations"):
        RecurrentConvNet(4)(torch.zeros(2, 5, dtype=torch.int64), -1)
    with pytest.raises(ValueError, match="shape"):
        RecurrentConvNet(4)(torch.zeros(5, dtype=torch.int64), 1)
    with pytest.raises(ValueError, match="multiple"):
        LoopedTransformer(vocab=20, width=10, heads=4)
    with pytest.raises(ValueError, match="statements"):
        LoopedTransformer(vocab=20, width=8, heads=2)(torch.zeros(2, 3, dtype=torch.int64), 1)


# ----------------------------------------------------------------------------- training


def test_sample_iterations_follows_huginns_distribution():
    generator = torch.Generator().manual_seed(0)
    draws = [train.sample_iterations(10.0, 0.5, 1000, generator) for _ in range(4000)]
    assert min(draws) >= 1 and np.mean(draws) == pytest.approx(10.0, rel=0.05)
    capped = [train.sample_iterations(10.0, 0.5, 12, generator) for _ in range(500)]
    assert max(capped) == 12


def test_progressive_loss_trains_through_the_last_k_iterations_only():
    torch.manual_seed(0)
    model = RecurrentConvNet(width=4)
    x, y = data.prefix_sum_data(8, 10, seed=0)
    loss = train.progressive_loss(model, x, y, 5, 1.0, torch.Generator().manual_seed(0))
    loss.backward()
    assert math.isfinite(float(loss.detach()))
    assert model.core.recall.weight.grad is not None and model.head[0].weight.grad is not None


def _tiny(cfg):
    return dataclasses.replace(
        cfg, conv_train=dataclasses.replace(cfg.conv_train, epochs=2), workers=1
    )


@pytest.mark.parametrize("kind", KINDS)
def test_smoke_training_is_finite_and_reloads_from_the_cache(tmp_path, monkeypatch, kind):
    monkeypatch.setenv("IMPLICIT_EDU_CACHE", str(tmp_path))
    cfg = _tiny(config("smoke"))
    result = train.cached_model(cfg, kind, 0)
    history = result["history"]
    assert history["val_accuracy"] and history["train_loss"]
    values = history["train_loss"] + history["val_loss"] + history["val_accuracy"]
    assert all(math.isfinite(v) for v in values)
    assert 0 <= result["best_val"] <= 1 and result["parameters"] > 0
    assert len(list(tmp_path.glob("reasoning-model-*.pt"))) == 1

    def boom(*args, **kwargs):
        raise AssertionError("the second call must read the cache, not train")

    monkeypatch.setattr(train, "train_one", boom)
    again = train.cached_model(cfg, kind, 0)
    assert again["history"] == history
    model = train.load(kind, cfg, again)
    assert not model.training
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(tensor.cpu(), result["model"][name])


def test_train_all_and_evaluation_in_the_smoke_profile(tmp_path, monkeypatch):
    monkeypatch.setenv("IMPLICIT_EDU_CACHE", str(tmp_path))
    cfg = _tiny(config("smoke"))
    results = train.train_all(cfg, progress=False)
    assert set(results) == {(kind, 0) for kind in KINDS}
    models = {kind: train.load(kind, cfg, results[(kind, 0)]) for kind in KINDS}
    e = cfg.evaluate

    tests = train.prefix_splits(cfg)["test"]
    table = evaluate.conv_accuracy_table(models["recurrent_conv"], tests, e.conv_iterations)
    assert table.shape == (len(tests), len(e.conv_iterations))
    x, y = tests[cfg.prefix_data.test_bits[0]]
    direct = train.whole_string_accuracy(models["recurrent_conv"](x, e.conv_iterations[-1]), y)
    assert table[0, -1] == pytest.approx(float(direct.mean()))
    flat = evaluate.feedforward_accuracy(models["feedforward_conv"], tests)
    assert flat.shape == (len(tests),) and ((flat >= 0) & (flat <= 1)).all()

    chains = train.chain_splits(cfg)["test"]
    looped = models["looped_transformer"]
    accuracy = evaluate.transformer_accuracy(looped, chains, e.transformer_r)
    assert accuracy["answer"].shape == (len(chains), len(e.transformer_r))
    assert (accuracy["all"] <= accuracy["answer"]).all()
    explicit = evaluate.explicit_accuracy(models["explicit_transformer"], chains)
    assert explicit["answer"].shape == evaluate.chance(chains).shape == (len(chains),)

    lt = evaluate.text_lipschitz(looped, e.transformer_r, 2, 6, num=6, max_distractor=3)
    assert lt["lt"].shape == (len(e.transformer_r),) and np.isfinite(lt["lt"]).all()
    assert lt["true"] >= 2 / 2  # the queried chain's answer and its query change at least

    for model, inputs in ((models["recurrent_conv"], x[:2]), (looped, chains[2]["tokens"][:2])):
        changes = evaluate.state_changes(model, inputs, 3)
        assert changes.shape == (3, 2) and np.isfinite(changes).all()
        norms = evaluate.contraction_along_path(model, inputs, [0, 2], iters=3)
        assert norms.shape == (2, 2) and (norms > 0).all()


def test_receptive_radius_is_five_per_iteration_plus_four():
    model = RecurrentConvNet(width=4, blocks=2)
    assert [evaluate.receptive_radius(model, r) for r in (0, 1, 2, 7)] == [4, 9, 14, 39]


def test_receptive_radius_matches_the_gradient_of_the_last_output():
    torch.manual_seed(0)
    model = RecurrentConvNet(width=8, blocks=2)
    x = torch.randint(0, 2, (16, 40)).float().requires_grad_(True)
    for r in (1, 3):
        (model(x, r)[:, :, -1].sum()).backward()
        reached = (x.grad.abs().sum(0) > 0).nonzero().flatten()
        assert 39 - int(reached.min()) == evaluate.receptive_radius(model, r)
        x.grad = None


def test_bit_flip_ratios_respect_locality_and_the_true_map():
    torch.manual_seed(1)
    model = RecurrentConvNet(width=8, blocks=2).eval()
    out = evaluate.bit_flip_ratios(model, bits=48, iterations=[3, 1, 12], num=40, seed=3)
    assert out["r"].tolist() == [3, 1, 12]
    assert ((out["lt"] >= 0) & (out["lt"] <= out["bound"])).all()
    assert out["bound"][1] < out["bound"][0] < out["bound"][2] <= 48
    x, _ = data.prefix_sum_data(40, 48, 3)
    flip = torch.randint(0, 48, (40,), generator=torch.Generator().manual_seed(4))
    assert out["true"] == pytest.approx(float((48 - flip).float().mean()))  # bits j … L change
    with pytest.raises(ValueError, match="iterations"):
        evaluate.bit_flip_ratios(model, 16, [0], num=2)


# ----------------------------------------------------------------------------- Huginn


def _assert_clear(message: str) -> None:
    for need in ("CUDA GPU", "transformers", "llm", "Hugging Face hub"):
        assert need in message


def test_huginn_refuses_clearly_without_a_gpu(tmp_path, monkeypatch):
    monkeypatch.setenv("IMPLICIT_EDU_CACHE", str(tmp_path))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match="no CUDA GPU") as error:
        huginn.check_available()
    _assert_clear(str(error.value))
    for call in (huginn.load_huginn, huginn.huginn_outputs, huginn.huginn_lipschitz):
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            call()
    assert time.perf_counter() - start < 5
    assert list(tmp_path.iterdir()) == []  # nothing cached


def test_huginn_refuses_clearly_without_transformers_or_the_hub(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "transformers" else real(name)
    )
    with pytest.raises(RuntimeError, match="transformers is not installed") as error:
        huginn.check_available()
    _assert_clear(str(error.value))

    # transformers present, but offline and not cached: refused at once, no network
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object())
    monkeypatch.setattr(huginn, "_in_local_cache", lambda model: False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match="HF_HUB_OFFLINE") as error:
        huginn.check_available()
    assert time.perf_counter() - start < 1
    _assert_clear(str(error.value))


def test_huginn_lipschitz_from_cached_outputs(tmp_path, monkeypatch):
    """With generations in the cache (say, from a GPU run), L_k needs neither GPU nor hub."""
    monkeypatch.setenv("IMPLICIT_EDU_CACHE", str(tmp_path))
    cfg = config("smoke").huginn
    pairs = [("Explain what field means in physics", "Explain what field means in agriculture")]
    fake = {
        "pairs": [list(pairs[0])],
        "steps": list(cfg.steps),
        "outputs": [[["a field is a region", f"a field is {'land ' * k}"]] for k in cfg.steps],
    }
    monkeypatch.setattr(huginn, "cached_state", lambda name, key, build: fake)
    result = huginn.huginn_lipschitz(cfg, pairs)
    expected = [
        data.word_levenshtein("a field is a region", f"a field is {'land ' * k}") for k in cfg.steps
    ]
    np.testing.assert_allclose(result["lt"], expected)
