"""The one configuration object of the looped-models case study, with its three scales.

The paper's set-up (Liu et al. 2025, §2(d) of the notes) is Huginn-0125 (Geiping et al. 2025), a
3.5 B-parameter looped language model, run with k ∈ {2, 4, 8, 16, 32} recurrent steps on 200
prompt pairs; it needs a GPU and the model hub (:class:`HuginnConfig`). On every machine we train
small looped models ourselves:

* the prefix-sum networks of Bansal et al. (2022): a recurrent 1-D convolutional net (DT-net with
  recall) trained on 16-bit strings with 20 iterations and the progressive loss, and its
  feed-forward twin of the same depth and about the same parameters (:class:`PrefixDataConfig`,
  :class:`ConvModelConfig`, :class:`ConvTrainConfig`);
* a looped transformer in Huginn's shape on the variable-chain task and an explicit transformer of
  the same parameter count (:class:`ChainDataConfig`, :class:`TransformerModelConfig`,
  :class:`TransformerTrainConfig`).

The ``cpu`` scale fits the chapter in about 10 minutes on 2 cores from an empty cache: the four
models train side by side in two worker processes, one thread each. One frozen part per cached
artefact: each trained model is keyed on the settings of its data, model and training parts that
it depends on (:data:`MODEL_SETTINGS`) and on the code that trains it
(:mod:`implicit_edu.runtime.cache`); evaluation settings (:class:`EvalConfig`) key nothing, so
changing them never retrains a model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from implicit_edu.runtime.profiles import current_profile, pick

__all__ = [
    "training_steps",
    "PrefixDataConfig",
    "ConvModelConfig",
    "ConvTrainConfig",
    "ChainDataConfig",
    "TransformerModelConfig",
    "TransformerTrainConfig",
    "EvalConfig",
    "HuginnConfig",
    "ReasoningConfig",
    "config",
    "KINDS",
    "PAPER_LT",
    "MODEL_SETTINGS",
]

#: The four models trained here, the looped and feed-forward prefix-sum nets, the looped and
#: explicit transformers.
KINDS = ("recurrent_conv", "feedforward_conv", "looped_transformer", "explicit_transformer")

#: The paper's text L_t for Huginn, from about 29 at k = 2 to about 53 at k = 32 (the paper's
#: figure of Huginn's L_t); only the end points are read off, the chapter says so.
PAPER_LT = {"first": 29.0, "last": 53.0, "steps": (2, 4, 8, 16, 32)}


@dataclass(frozen=True)
class PrefixDataConfig:
    """Prefix sums: training strings of ``train_bits`` bits, test strings up to 16× longer."""

    train_bits: int = 16
    num_train: int = 8_000
    num_val: int = 1_000
    test_bits: tuple[int, ...] = (16, 64, 128, 256)
    num_test: tuple[int, ...] = (500, 500, 250, 250)  # per test length
    seed: int = 0  # train: seed, validation: seed + 1, test length j: seed + 2 + j

    def __post_init__(self) -> None:
        if len(self.num_test) != len(self.test_bits):
            raise ValueError("num_test needs one size per entry of test_bits")


@dataclass(frozen=True)
class ConvModelConfig:
    """The DT-net's width; the feed-forward twin's width is matched to its parameter count."""

    width: int = 64
    blocks: int = 2  # residual blocks in the core


@dataclass(frozen=True)
class ConvTrainConfig:
    """AdamW with warm-up and a cosine decay, the progressive loss of Bansal et al. (2022).

    Both nets use the same learning rate, batches and schedule, and about the same training
    compute: a step of the feed-forward twin costs about half a step of the looped net (one pass
    through T cores against n iterations without and k with gradient, measured), so it trains for
    ``feedforward_epochs`` ≈ 2 × ``epochs``. ``iterations`` is the training depth T (the
    feed-forward twin has T cores). The loss of the looped net is
    (1 − α) · loss(ŷ_T) + α · loss(ŷ_{n+k}), where the second term starts from the state after
    n ~ U{0, …, T − 1} iterations without gradient and backpropagates through k ~ U{1, …, T − n}.
    """

    iterations: int = 20
    alpha: float = 1.0
    epochs: int = 15
    feedforward_epochs: int = 30
    batch: int = 100
    lr: float = 2e-3  # the same for both nets
    weight_decay: float = 2e-4
    warmup_epochs: int = 1
    clip: float = 1.0
    validate_every: int = 1  # epochs


@dataclass(frozen=True)
class ChainDataConfig:
    """Variable chains: train on 1 … max(train_hops) hops, test up to max(test_hops)."""

    names: int = 52
    statements: int = 16  # per training and validation prompt (plus the query)
    test_statements: int = 40  # per test prompt: room for the longest test chain
    train_hops: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8)
    test_hops: tuple[int, ...] = (2, 4, 8, 12, 16, 20, 24, 32)
    max_distractor: int = 8
    num_train: int = 40_000
    num_val: int = 1_000
    num_test: int = 200  # per number of hops
    seed: int = 100


@dataclass(frozen=True)
class TransformerModelConfig:
    """The looped transformer (Huginn's shape, width ``width``) and its explicit twin.

    The explicit transformer has ``explicit_depth`` cores with their own weights and the width
    (a multiple of ``heads``) that gives it about the looped model's parameter count. One core
    moves a value one hop, and the query is one hop beyond its chain, so ``explicit_depth`` is one
    more than the longest training chain: the explicit model can solve every training prompt.
    """

    width: int = 64
    heads: int = 4
    prelude: int = 1
    core_blocks: int = 1
    coda: int = 1
    init_std: float = 0.5
    input_attention: bool = True  # the cores' queries and keys come from e (models.py)
    local_ends: bool = True  # prelude and coda see one statement at a time (models.py)
    explicit_depth: int = 9


@dataclass(frozen=True)
class TransformerTrainConfig:
    """AdamW, warm-up and cosine decay, batches of prompts, loss on every statement.

    The looped model's r is drawn per step as in Huginn: r = 1 + Poisson(λ) with λ log-normal of
    mean ``mean_r − 1`` and shape ``sigma``, capped at ``max_r``; only the last ``grad_steps``
    iterations are backpropagated. Both models get about the same training compute: a step of the
    explicit model (one pass through its cores) costs about half a step of the looped one, so it
    trains for ``explicit_steps`` ≈ 2 × ``steps`` (with half of them it had not yet learned the
    training range).
    """

    steps: int = 1_500
    explicit_steps: int = 3_000
    batch: int = 64
    lr: float = 2e-3
    beta2: float = 0.98
    weight_decay: float = 0.01
    warmup: int = 100
    clip: float = 1.0
    mean_r: float = 10.0
    sigma: float = 0.5
    max_r: int = 16
    grad_steps: int = 8
    validate_every: int = 250


@dataclass(frozen=True)
class EvalConfig:
    """Measurements on the trained models (keys no cache)."""

    conv_iterations: tuple[int, ...] = (1, 5, 10, 15, 20, 25, 30, 40, 50, 60, 80, 100, 120)
    transformer_r: tuple[int, ...] = (1, 2, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 48)
    lt_prompts: int = 100  # prompts per hop count for the text L_t
    lt_hops: tuple[int, ...] = (4, 8, 16)
    spectral_samples: int = 8
    spectral_iters: int = 30


@dataclass(frozen=True)
class HuginnConfig:
    """Huginn-0125 (GPU and model hub only): which pairs, which step counts, how long answers."""

    model: str = "tomg-group-umd/huginn-0125"
    steps: tuple[int, ...] = (2, 4, 8, 16, 32)
    pairs: int | None = 8  # the first ``pairs`` of semantic_pairs(); None: all of them
    max_new_tokens: int = 128  # the paper's maximum length
    system_prompt: str = "You are a helpful assistant."
    seed: int = 0


@dataclass(frozen=True)
class ReasoningConfig:
    profile: str = "cpu"
    prefix_data: PrefixDataConfig = field(default_factory=PrefixDataConfig)
    conv_model: ConvModelConfig = field(default_factory=ConvModelConfig)
    conv_train: ConvTrainConfig = field(default_factory=ConvTrainConfig)
    chain_data: ChainDataConfig = field(default_factory=ChainDataConfig)
    transformer_model: TransformerModelConfig = field(default_factory=TransformerModelConfig)
    transformer_train: TransformerTrainConfig = field(default_factory=TransformerTrainConfig)
    evaluate: EvalConfig = field(default_factory=EvalConfig)
    huginn: HuginnConfig = field(default_factory=HuginnConfig)
    seeds: tuple[int, ...] = (0,)
    workers: int = 2  # models trained side by side (one CPU thread each)


def _under(part: str, names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"{part}.{name}" for name in names)


_CONV = (
    _under("prefix_data", ("train_bits", "num_train", "num_val", "seed"))
    + ("conv_model",)
    + _under("conv_train", ("iterations", "batch", "lr", "weight_decay", "warmup_epochs", "clip"))
    + ("conv_train.validate_every",)
)
_CHAIN = _under(
    "chain_data",
    ("names", "statements", "train_hops", "max_distractor", "num_train", "num_val", "seed"),
)
_CORE = ("width", "heads", "prelude", "core_blocks", "coda", "init_std", "input_attention")
_CORE += ("local_ends",)
_TRAIN = ("batch", "lr", "beta2", "weight_decay", "warmup", "clip", "validate_every")

#: The settings (of :class:`ReasoningConfig`) a trained model of each kind depends on. They are
#: the key of its cache entry beside its seed, and all its training may read
#: (:func:`implicit_edu.runtime.cache.keyed`). Not in any key, so changing them retrains nothing:
#: the test strings and prompts (``prefix_data.test_bits``, ``prefix_data.num_test``,
#: ``chain_data.test_statements``, ``chain_data.test_hops``, ``chain_data.num_test``),
#: ``evaluate``, ``huginn`` (its generations have a key of their own), ``seeds``, ``workers``
#: and ``profile``.
MODEL_SETTINGS = {
    "recurrent_conv": _CONV + ("conv_train.epochs", "conv_train.alpha"),
    "feedforward_conv": _CONV + ("conv_train.feedforward_epochs",),
    "looped_transformer": _CHAIN
    + _under("transformer_model", _CORE)
    + _under("transformer_train", _TRAIN + ("steps", "mean_r", "sigma", "max_r", "grad_steps")),
    "explicit_transformer": _CHAIN
    + _under("transformer_model", _CORE + ("explicit_depth",))
    + _under("transformer_train", _TRAIN + ("explicit_steps",)),
}


def config(profile: str | None = None) -> ReasoningConfig:
    """The configuration of a profile (``smoke``, ``cpu`` or ``gpu``; default: the current one)."""
    profile = profile or current_profile()

    def p(**values):
        return pick(profile=profile, **values)

    return ReasoningConfig(
        profile=profile,
        prefix_data=PrefixDataConfig(
            train_bits=p(smoke=8, cpu=16, gpu=32),
            num_train=p(smoke=64, cpu=8_000, gpu=10_000),
            num_val=p(smoke=32, cpu=1_000, gpu=1_000),
            test_bits=p(smoke=(8, 16, 32), cpu=(16, 64, 128, 256), gpu=(32, 128, 256, 512)),
            num_test=p(smoke=(16, 16, 16), cpu=(250, 250, 200, 200), gpu=(1_000,) * 4),
        ),
        conv_model=ConvModelConfig(width=p(smoke=8, cpu=64, gpu=128)),
        conv_train=ConvTrainConfig(
            iterations=p(smoke=4, cpu=20, gpu=30),
            epochs=p(smoke=2, cpu=15, gpu=20),
            feedforward_epochs=p(smoke=2, cpu=30, gpu=40),
            batch=p(smoke=16, cpu=100, gpu=150),
        ),
        chain_data=ChainDataConfig(
            statements=p(smoke=6, cpu=16, gpu=24),
            test_statements=p(smoke=8, cpu=40, gpu=52),
            train_hops=p(smoke=(1, 2, 3), cpu=tuple(range(1, 9)), gpu=tuple(range(1, 13))),
            test_hops=p(
                smoke=(2, 6),
                cpu=(2, 4, 8, 12, 16, 24, 32),
                gpu=(2, 4, 8, 12, 16, 24, 32, 40, 48),
            ),
            max_distractor=p(smoke=3, cpu=8, gpu=12),
            num_train=p(smoke=64, cpu=40_000, gpu=200_000),
            num_val=p(smoke=16, cpu=1_000, gpu=2_000),
            num_test=p(smoke=8, cpu=150, gpu=500),
        ),
        transformer_model=TransformerModelConfig(
            width=p(smoke=16, cpu=64, gpu=128),
            heads=p(smoke=2, cpu=4, gpu=4),
            explicit_depth=p(smoke=4, cpu=9, gpu=13),
        ),
        transformer_train=TransformerTrainConfig(
            steps=p(smoke=6, cpu=1_500, gpu=2_000),
            explicit_steps=p(smoke=6, cpu=3_000, gpu=4_000),
            batch=p(smoke=8, cpu=64, gpu=128),
            warmup=p(smoke=2, cpu=100, gpu=200),
            mean_r=p(smoke=3.0, cpu=10.0, gpu=16.0),
            max_r=p(smoke=4, cpu=16, gpu=24),
            grad_steps=p(smoke=2, cpu=8, gpu=8),
            validate_every=p(smoke=3, cpu=250, gpu=250),
        ),
        evaluate=EvalConfig(
            conv_iterations=p(
                smoke=(1, 4, 8),
                cpu=(1, 5, 10, 15, 20, 25, 30, 40, 50, 60, 80, 100, 120),
                gpu=(1, 10, 20, 30, 40, 60, 80, 100, 150, 200, 250, 300),
            ),
            transformer_r=p(
                smoke=(1, 2, 4, 6),
                cpu=(1, 2, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 48),
                gpu=(1, 2, 4, 8, 12, 16, 24, 32, 40, 48, 56, 64),
            ),
            lt_prompts=p(smoke=4, cpu=100, gpu=200),
            lt_hops=p(smoke=(2,), cpu=(4, 8, 16), gpu=(8, 16, 32)),
            spectral_samples=p(smoke=2, cpu=8, gpu=16),
            spectral_iters=p(smoke=5, cpu=30, gpu=50),
        ),
        huginn=HuginnConfig(pairs=p(smoke=2, cpu=8, gpu=8)),
        seeds=p(smoke=(0,), cpu=(0,), gpu=(0, 1, 2)),
        workers=p(smoke=1, cpu=2, gpu=1),
    )


def training_steps(cfg: ReasoningConfig) -> dict[str, int]:
    """The optimiser steps a configuration trains, per model, over every seed (early stopping
    ignored): ``ceil(num_train / batch)`` steps per epoch for the two prefix-sum nets (the
    feed-forward twin gets its own number of epochs), the configured steps for the two
    transformers. Keys as in :mod:`implicit_edu.runtime.gpu_steps`."""
    ct, tt = cfg.conv_train, cfg.transformer_train
    per_epoch = math.ceil(cfg.prefix_data.num_train / ct.batch)
    seeds = len(cfg.seeds)
    return {
        "recurrent_conv": seeds * ct.epochs * per_epoch,
        "feedforward_conv": seeds * ct.feedforward_epochs * per_epoch,
        "looped_transformer": seeds * tt.steps,
        "explicit_transformer": seeds * tt.explicit_steps,
    }
