"""Huginn-0125 itself: the paper's looped language model and its text L_t (GPU and hub only).

Huginn-0125 (Geiping et al. 2025, ``tomg-group-umd/huginn-0125`` on the Hugging Face hub, custom
code) has a prelude of 2 transformer blocks, a recurrent core of 4 blocks iterated k times with an
adapter on [state, embedded input], and a coda of 2; its state starts as random noise. The number
of iterations is a keyword of its ``generate``: ``model.generate(input_ids, generation_config,
tokenizer=tokenizer, num_steps=k)``. The paper runs it with k ∈ {2, 4, 8, 16, 32}, greedy
decoding, answers of at most 128 tokens, on 200 prompt pairs that differ in one or two words, and
reports the text L_t

    L_k = mean over pairs (x, x') of Lev(out_k(x), out_k(x')) / Lev(x, x'),

Lev the word-level edit distance, growing from about 29 to about 53 with k.

The weights are about 7 GB in bf16: this needs a CUDA GPU, the ``llm`` extra (transformers and
accelerate: ``pip install "implicit-edu[llm]"``) and the model hub (or the model already in the
local Hugging Face cache). :func:`check_available` says plainly which of these is missing, at once
and without waiting on the network when there is no GPU or no transformers; the hub is probed with
a short timeout, and not at all when ``HF_HUB_OFFLINE`` is set. Every other function calls it
first. Generations are cached on disk like the trained models, so a cache filled on a GPU machine
serves a later build without one.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import sys
from collections.abc import Sequence

import numpy as np
import torch

from implicit_edu.experiments.reasoning.config import HuginnConfig
from implicit_edu.experiments.reasoning.data import semantic_pairs, word_levenshtein
from implicit_edu.runtime.cache import cached_state, keyed

__all__ = [
    "MODEL",
    "NEEDS",
    "check_available",
    "load_huginn",
    "generate",
    "huginn_outputs",
    "huginn_lipschitz",
]

MODEL = "tomg-group-umd/huginn-0125"

#: What running Huginn needs, in words (the chapter prints it where it cannot run).
NEEDS = (
    "Running Huginn-0125 needs (1) a CUDA GPU with about 8 GB of free memory (the weights are "
    "about 7 GB in bf16), (2) the `llm` extra with transformers and accelerate "
    '(pip install "implicit-edu[llm]"), and (3) access to the Hugging Face hub to download '
    f"{MODEL}, or the model already in the local Hugging Face cache."
)

_TRUE = {"1", "true", "yes", "on"}


def _offline() -> bool:
    return any(
        os.environ.get(name, "").strip().lower() in _TRUE
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _in_local_cache(model: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    return isinstance(try_to_load_from_cache(model, "config.json"), str)


def _hub_problem(model: str, timeout: float) -> str | None:
    """Why the model cannot be fetched from the hub or the local cache, or None if it can."""
    if _in_local_cache(model):
        return None
    if _offline():
        return f"HF_HUB_OFFLINE is set and {model} is not in the local Hugging Face cache"
    try:
        from huggingface_hub import HfApi
    except ImportError:
        return "huggingface_hub (installed with transformers) is missing"
    try:
        HfApi().model_info(model, timeout=timeout)
    except Exception as error:  # noqa: BLE001 - any failure means: no usable hub
        return f"the Hugging Face hub cannot be reached ({type(error).__name__}: {error})"
    return None


def check_available(model: str = MODEL, timeout: float = 5.0) -> None:
    """Raise RuntimeError, saying what is missing and what is needed, unless Huginn can run.

    Checked in order, each only when the previous ones pass: a CUDA GPU; transformers; the model
    in the local cache, or the hub reachable within ``timeout`` seconds (never probed when
    ``HF_HUB_OFFLINE`` is set).
    """
    problem = None
    if not torch.cuda.is_available():
        problem = "no CUDA GPU is available"
    elif importlib.util.find_spec("transformers") is None:
        problem = "transformers is not installed"
    else:
        problem = _hub_problem(model, timeout)
    if problem is not None:
        raise RuntimeError(f"Huginn-0125 cannot run here: {problem}. {NEEDS}")


def load_huginn(model: str = MODEL, timeout: float = 5.0):
    """``(model, tokenizer)``: Huginn in bf16 on the GPU, in evaluation mode."""
    check_available(model, timeout)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    local = _offline() or _in_local_cache(model)
    tokenizer = AutoTokenizer.from_pretrained(model, local_files_only=local)
    network = AutoModelForCausalLM.from_pretrained(
        model, torch_dtype=torch.bfloat16, trust_remote_code=True, local_files_only=local
    )
    return network.to("cuda").eval(), tokenizer


@torch.no_grad()
def generate(model, tokenizer, prompt: str, num_steps: int, cfg: HuginnConfig | None = None) -> str:
    """Huginn's greedy answer to ``prompt`` (as a chat turn) with ``num_steps`` recurrences.

    The random start of the recurrent state is seeded with ``cfg.seed`` before every call, so
    the two prompts of a pair start from the same state.
    """
    from transformers import GenerationConfig

    cfg = cfg or HuginnConfig()
    messages = [
        {"role": "system", "content": cfg.system_prompt},
        {"role": "user", "content": prompt},
    ]
    chat = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    input_ids = tokenizer.encode(chat, return_tensors="pt", add_special_tokens=False)
    input_ids = input_ids.to(next(model.parameters()).device)
    settings = GenerationConfig(
        max_new_tokens=cfg.max_new_tokens,
        do_sample=False,
        temperature=None,
        top_k=None,
        top_p=None,
        use_cache=True,
        return_dict_in_generate=True,
        stop_strings=["<|end_text|>", "<|end_turn|>"],
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(cfg.seed)
    output = model.generate(input_ids, settings, tokenizer=tokenizer, num_steps=num_steps)
    sequences = output.sequences if hasattr(output, "sequences") else output
    return tokenizer.decode(sequences[0, input_ids.shape[1] :], skip_special_tokens=True).strip()


def _pairs(cfg: HuginnConfig, pairs: Sequence[tuple[str, str]] | None):
    pairs = list(semantic_pairs() if pairs is None else pairs)
    return pairs if cfg.pairs is None else pairs[: cfg.pairs]


def huginn_outputs(
    cfg: HuginnConfig | None = None, pairs: Sequence[tuple[str, str]] | None = None
) -> dict:
    """Huginn's answers to both prompts of every pair for every k in ``cfg.steps`` (cached).

    ``pairs`` defaults to :func:`~implicit_edu.experiments.reasoning.data.semantic_pairs`; the first
    ``cfg.pairs`` of them are used (all when it is None). Returns ``{"pairs": [[x, x'], …],
    "steps": [k, …], "outputs": [[[out_k(x), out_k(x')] for each pair] for each k]}``. Raises
    RuntimeError (:func:`check_available`) when nothing is cached and Huginn cannot run.
    """
    cfg = cfg or HuginnConfig()
    chosen = [[a, b] for a, b in _pairs(cfg, pairs)]
    # keyed on every setting, the prompts and the code of this module and those it imports
    fields = [field.name for field in dataclasses.fields(cfg)]
    cfg, key = keyed(cfg, fields, sys.modules[__name__], pairs=chosen)

    def build() -> dict:
        model, tokenizer = load_huginn(cfg.model)
        outputs = [
            [[generate(model, tokenizer, p, k, cfg) for p in pair] for pair in chosen]
            for k in cfg.steps
        ]
        return {"pairs": chosen, "steps": list(cfg.steps), "outputs": outputs}

    return cached_state("reasoning-huginn", key, build)


def huginn_lipschitz(
    cfg: HuginnConfig | None = None, pairs: Sequence[tuple[str, str]] | None = None
) -> dict:
    """The paper's text L_k for Huginn: ``{"steps": (K,), "lt": (K,), "per_pair": (K, P),
    "outputs": …}`` with L_k = mean over pairs of Lev(out_k(x), out_k(x')) / Lev(x, x')."""
    result = huginn_outputs(cfg or HuginnConfig(), pairs)
    inputs = [word_levenshtein(a, b) for a, b in result["pairs"]]
    per_pair = np.array(
        [
            [word_levenshtein(a, b) / d for (a, b), d in zip(outputs, inputs, strict=True)]
            for outputs in result["outputs"]
        ]
    )
    return {
        "steps": np.array(result["steps"]),
        "lt": per_pair.mean(axis=1),
        "per_pair": per_pair,
        "outputs": result["outputs"],
        "pairs": result["pairs"],
    }
