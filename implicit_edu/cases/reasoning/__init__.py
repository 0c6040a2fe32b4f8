"""Case study: looped models and reasoning (chapter "Looped models and reasoning").

More test-time iterations of a looped (recurrent-depth) model solve harder problems:

* :mod:`.config`: :class:`ReasoningConfig`, the three scales, one frozen part per cached artefact;
* :mod:`.data`: prefix sums, the variable-chain task, the prompt pairs shipped with the package,
  the word-level Levenshtein distance;
* :mod:`.models`: the recurrent prefix-sum net (DT-net with recall) and its feed-forward twin, a
  looped transformer in Huginn's shape and its explicit twin;
* :mod:`.train`: the progressive loss, Huginn's random depth, splits, early stopping, the cache;
* :mod:`.evaluate`: accuracy against iterations and length, the text L_t, fixed points and the
  core's Jacobian along the path;
* :mod:`.huginn`: Huginn-0125 itself (a CUDA GPU, transformers and the model hub needed).
"""

from implicit_edu.cases.reasoning.config import (
    KINDS,
    PAPER_LT,
    ChainDataConfig,
    ConvModelConfig,
    ConvTrainConfig,
    EvalConfig,
    HuginnConfig,
    PrefixDataConfig,
    ReasoningConfig,
    TransformerModelConfig,
    TransformerTrainConfig,
    config,
)
from implicit_edu.cases.reasoning.data import (
    NAMES,
    answer_text,
    chain_data,
    perturb_roots,
    prefix_sum_data,
    prompt_text,
    query_token,
    resolve,
    semantic_pairs,
    vocabulary_size,
    word_levenshtein,
)
from implicit_edu.cases.reasoning.evaluate import (
    answers,
    chance,
    contraction_along_path,
    conv_accuracy_table,
    explicit_accuracy,
    feedforward_accuracy,
    state_changes,
    text_lipschitz,
    transformer_accuracy,
)
from implicit_edu.cases.reasoning.huginn import (
    NEEDS,
    check_available,
    generate,
    huginn_lipschitz,
    huginn_outputs,
    load_huginn,
)
from implicit_edu.cases.reasoning.models import (
    Block,
    ExplicitTransformer,
    FeedForwardConvNet,
    LoopedTransformer,
    RecallCore,
    RecurrentConvNet,
    ResidualBlock1D,
    TransformerCore,
    matched_transformer_width,
    matched_width,
    parameter_count,
)
from implicit_edu.cases.reasoning.train import (
    build,
    cached_model,
    chain_splits,
    load,
    prefix_splits,
    progressive_loss,
    sample_iterations,
    train_all,
    train_one,
    whole_string_accuracy,
)

__all__ = [
    "KINDS",
    "PAPER_LT",
    "ChainDataConfig",
    "ConvModelConfig",
    "ConvTrainConfig",
    "EvalConfig",
    "HuginnConfig",
    "PrefixDataConfig",
    "ReasoningConfig",
    "TransformerModelConfig",
    "TransformerTrainConfig",
    "config",
    "NAMES",
    "answer_text",
    "chain_data",
    "perturb_roots",
    "prefix_sum_data",
    "prompt_text",
    "query_token",
    "resolve",
    "semantic_pairs",
    "vocabulary_size",
    "word_levenshtein",
    "answers",
    "chance",
    "contraction_along_path",
    "conv_accuracy_table",
    "explicit_accuracy",
    "feedforward_accuracy",
    "state_changes",
    "text_lipschitz",
    "transformer_accuracy",
    "NEEDS",
    "check_available",
    "generate",
    "huginn_lipschitz",
    "huginn_outputs",
    "load_huginn",
    "Block",
    "ExplicitTransformer",
    "FeedForwardConvNet",
    "LoopedTransformer",
    "RecallCore",
    "RecurrentConvNet",
    "ResidualBlock1D",
    "TransformerCore",
    "matched_transformer_width",
    "matched_width",
    "parameter_count",
    "build",
    "cached_model",
    "chain_splits",
    "load",
    "prefix_splits",
    "progressive_loss",
    "sample_iterations",
    "train_all",
    "train_one",
    "whole_string_accuracy",
]
