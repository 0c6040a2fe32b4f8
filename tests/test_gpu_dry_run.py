"""A dry run of every case study's ``gpu`` profile on the CPU (issue 15).

No GPU has run the ``gpu`` profile yet. For each case study these tests build every model that the
``gpu`` profile trains (explicit and implicit, every width, and the deblurring denoisers'
pretraining), run one training step on the CPU on a synthetic batch of b and of 2b samples of the
profile's shapes, and estimate from the measured parameter, gradient, optimiser-state, activation
and solver bytes the peak GPU memory of a step at the profile's full batch B
(``tests/gpu_dry_run.py`` gives the formula and its safety margins). Every estimate must stay below
three quarters of a Colab T4's 15 GiB, and what autograd saves must grow about linearly with the
batch (saved(2b) / saved(b) close to 2), which is what scaling from b to B assumes.

Every step was also run once on a real GPU (an H200) at the full batch by ``tools/gpu_steps.py``;
``implicit_edu/runtime/gpu_steps_h200.json`` holds what it measured, and each estimate must cover
the memory the allocator reserved there (plus the CUDA context).

The steps follow each train.py; none of them has a step function of its own, so each test
reproduces the body of the training loop with train.py's own building blocks (``build_model``,
``make_deq``, ``observe``, ``build``, ``relative_errors``, ``progressive_loss``, ...), the same
loss, backward mode, solver limits, optimiser and clipping; each Step's ``note`` says how. Data are
synthetic tensors of the real shapes and dtypes (the real data sets are slow to generate), except
the LP graphs, drawn with the data module's own ``random_instance`` (no LP is solved: the targets
are random). Every model runs at its full ``gpu`` size: none needed a reduced spatial size.

The FNO-DEQ's no-grad passes that keep every Anderson iterate (``ImplicitFNO.anderson_states``)
are measured too. When this test was written, two of them on the Navier–Stokes page of the gpu
profile held all 256 test flows (or 64 flows at 128²) at once, about 14.5 GiB of tensors: they did
not fit a T4. They now run in chunks of flows (``evaluate.flows_per_chunk``, ``predict``'s
default chunk), and these tests hold them to it.

Run with ``pytest tests/test_gpu_dry_run.py -s`` to see the tables.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from gpu_dry_run import (
    BUDGET_BYTES,
    GIB,
    Estimate,
    Step,
    format_table,
    measure,
    no_grad_estimate,
)
from torch import nn
from torch.nn import functional as F

from implicit_edu.experiments.memory import saved_tensor_bytes
from implicit_edu.runtime import gpu_steps

B_SMALL = 2  # the small batch b; every step is also run at 2b
# saved(2b) / saved(b): exactly 2 when everything autograd keeps is per sample; a little less
# when a few tensors do not depend on the batch (B / b scaling then overestimates)
RATIO_RANGE = (1.8, 2.05)


# What torch.cuda.max_memory_reserved does not count, added to a measured step before it is
# compared with an estimate: the CUDA context and the cuBLAS/cuDNN handles (a few hundred MiB).
CONTEXT_NOT_RESERVED = GIB // 2


def _check_against_the_gpu(estimates: list[Estimate]) -> None:
    """Every estimate against the same step run on a real GPU at the full batch
    (``implicit_edu/runtime/gpu_steps_h200.json``, measured by ``tools/gpu_steps.py``): the
    estimate must cover the memory the allocator reserved there plus the context."""
    measured = {(s["case"], s["model"]): s for s in gpu_steps.measurement()["steps"]}
    gpu = gpu_steps.measurement()["gpu"]
    for e in estimates:
        m = measured.get((e.case, e.model))
        assert m is not None, (
            f"{e.case} {e.model}: this step was never run on a GPU; run tools/gpu_steps.py on "
            "one and update implicit_edu/runtime/gpu_steps_h200.json"
        )
        assert m["batch"] == e.batch, (
            f"{e.case} {e.model}: measured at batch {m['batch']}, the profile now uses {e.batch}: "
            "measure it again (tools/gpu_steps.py)"
        )
        used = m["max_reserved"] + CONTEXT_NOT_RESERVED
        print(
            f"  {e.model}: {m['max_reserved'] / GIB:.2f} GiB reserved on the {gpu}, "
            f"estimate {e.estimate_bytes / GIB:.2f} GiB"
        )
        assert e.estimate_bytes >= used, (
            f"{e.case} {e.model}: the estimate {e.estimate_bytes / GIB:.2f} GiB is below what the "
            f"step took on the {gpu} ({used / GIB:.2f} GiB with the context)"
        )


def _check(estimates: list[Estimate], title: str) -> None:
    print(f"\n{title}\n{format_table(estimates)}")
    _check_against_the_gpu(estimates)
    for e in estimates:
        assert math.isfinite(e.loss), f"{e.case} {e.model}: the training step gave loss {e.loss}"
        assert RATIO_RANGE[0] <= e.ratio <= RATIO_RANGE[1], (
            f"{e.case} {e.model}: saved-for-backward bytes went from {e.saved[0]} at b = {e.b} to "
            f"{e.saved[1]} at 2b (×{e.ratio:.2f}), not about ×2: scaling to B = {e.batch} would "
            "be wrong"
        )
        # the peak holds batch-independent parts too (the gradients): below 2, never above
        assert 1 < e.peak_ratio <= RATIO_RANGE[1], (
            f"{e.case} {e.model}: the step's peak went ×{e.peak_ratio:.2f} from b to 2b"
        )
        assert e.optimizer_bytes >= 2 * e.param_bytes, f"{e.case} {e.model}: no Adam state?"
        assert e.grad_bytes == e.param_bytes, f"{e.case} {e.model}: a parameter got no gradient"
    too_big = [e for e in estimates if not e.fits]
    assert not too_big, "does not fit a T4 with room to spare: " + ", ".join(
        f"{e.model} (B = {e.batch}): {e.estimate_bytes / GIB:.2f} GiB > "
        f"{BUDGET_BYTES / GIB:.2f} GiB"
        for e in too_big
    )


# ----------------------------------------------------------------------------------- deblurring


def deblur_steps() -> list[Step]:
    """Pretraining of every denoiser width, the two DEQs (ift) and the explicit models."""
    from implicit_edu.experiments.deblur import config as deblur_config
    from implicit_edu.experiments.deblur.train import (
        build_denoiser,
        build_model,
        make_blur,
        make_deq,
        observe,
    )

    cfg = deblur_config("gpu")
    blur = make_blur(cfg)
    shape = (cfg.channels, cfg.crop, cfg.crop)

    def clean(b: int) -> torch.Tensor:
        return torch.rand(b, *shape)  # crops in [0, 1], float32 as make_data stores them

    def pretrain_batch(b: int):
        # _pretrain: σ ~ U(0, σ_max) per image, noisy = clean + σ n
        y = clean(b)
        sigma = cfg.pretrain_sigma_max * torch.rand(b)
        return y + sigma.view(-1, 1, 1, 1) * torch.randn(y.shape), sigma, y

    def task_batch(b: int):
        y = clean(b)
        return observe(blur, y, cfg.noise), y  # x = A y + n, outside autograd as in train.py

    def adam(parameters):
        return torch.optim.Adam(parameters, lr=cfg.lr)

    def pretrain_adam(parameters):
        return torch.optim.Adam(parameters, lr=cfg.pretrain_lr)

    steps = []
    for m in cfg.explicit_multipliers:

        def build(m=m):
            denoiser = build_denoiser(cfg, m)
            return denoiser, denoiser.parameters()

        steps.append(
            Step(
                case="deblur",
                model=f"pretrain H x{m}",
                key=f"pretrain-x{m}",
                batch=cfg.pretrain_batch,
                build=build,
                make_batch=pretrain_batch,
                loss=lambda h, batch: F.mse_loss(h(batch[0], batch[1]), batch[2]),
                optimizer=pretrain_adam,
                note="train._pretrain: MSE of H(y + σn, σ) against y",
            )
        )
    state_bytes = 4 * math.prod(shape)  # the fixed point is an image (float32)
    for name in ("pgd", "hqs"):

        def build(name=name):
            model = build_model(cfg, name, lam=0.05)
            return make_deq(cfg, model), model.parameters()

        steps.append(
            Step(
                case="deblur",
                model=f"{name} (DEQ, ift)",
                key=name,
                batch=cfg.batch,
                build=build,
                make_batch=task_batch,
                loss=lambda deq, batch: F.mse_loss(deq(batch[0]), batch[1]),
                optimizer=adam,
                solve=lambda deq, batch: deq(batch[0]),
                state_bytes=state_bytes,
                anderson_m=5,
                note="train._train_steps: make_deq (Anderson m = 5, ift backward), MSE",
            )
        )
    for m in cfg.explicit_multipliers:

        def build(m=m):
            model = build_model(cfg, f"explicit-x{m}", lam=0.05)  # λ: any value, same memory
            return model, model.parameters()

        steps.append(
            Step(
                case="deblur",
                model=f"explicit-x{m}",
                key=f"explicit-x{m}",
                batch=cfg.batch,
                build=build,
                make_batch=task_batch,
                loss=lambda model, batch: F.mse_loss(model(batch[0]), batch[1]),
                optimizer=adam,
                note="train._train_steps: H on the Tikhonov estimate, MSE",
            )
        )
    return steps


def test_deblur_gpu_profile_fits_a_t4():
    """Deblurring, gpu: colour 64² crops, U-Net of base width 16 and 4 scales (×1, ×4, ×16),
    pretraining batch 16, task batch 8, DEQs with 30 Anderson iterations forwards and up to 20
    backwards (ift)."""
    _check([measure(step, B_SMALL) for step in deblur_steps()], "deblur, gpu profile")


# ------------------------------------------------------------------------------- Navier–Stokes


def navier_stokes_steps() -> list[Step]:
    """The FNO-DEQ in both training phases, the explicit FNO and the large one."""
    from implicit_edu.experiments.navier_stokes import config as ns_config
    from implicit_edu.experiments.navier_stokes.data import random_forcing
    from implicit_edu.experiments.navier_stokes.train import build, relative_errors

    cfg = ns_config("gpu")
    t, d = cfg.train, cfg.data

    def make_batch(b: int):
        phi = random_forcing(b, d.grid, k_min=d.k_min, k_max=d.k_max, rms=d.rms, seed=b)
        omega = torch.randn(b, d.grid, d.grid)  # the target's values do not change the memory
        return phi.to(torch.float32), omega

    def adam(parameters):
        return torch.optim.Adam(parameters, lr=max(t.learning_rates), weight_decay=t.weight_decay)

    def build_kind(kind):
        def make():
            model = build(kind, cfg, (d.rms, 1.0))
            return model, model.parameters()

        return make

    def warmup_loss(model, batch):  # train._train, step <= warmup: unrolled, Jacobian penalty
        phi, target = batch
        state = model.states(phi, t.unrolled_iterations)[-1]
        loss = relative_errors(model.read(state), target).mean()
        return loss + t.jacobian_weight * model.jacobian_penalty(phi, state)

    def deq_loss(model, batch):  # train._train, step > warmup: Anderson + phantom, penalty
        phi, target = batch
        prediction = model(phi)
        state = model.deq.forward_result.y
        loss = relative_errors(prediction, target).mean()
        return loss + t.jacobian_weight * model.jacobian_penalty(phi, state)

    def explicit_loss(model, batch):
        return relative_errors(model(batch[0]), batch[1]).mean()

    common = {"case": "navier_stokes", "batch": t.batch, "make_batch": make_batch}
    common.update(optimizer=adam, clip=1.0)
    state_bytes = 4 * cfg.model.width * d.grid**2
    return [
        Step(
            model=f"implicit, warm-up ({t.unrolled_iterations} unrolled)",
            key="implicit-warmup",
            build=build_kind("implicit"),
            loss=warmup_loss,
            note="train._train warm-up phase: states(φ, unrolled)[-1], rel. L2 + γ·penalty",
            **common,
        ),
        Step(
            model=f"implicit, DEQ (Anderson {t.forward_max_iter}, phantom)",
            key="implicit-deq",
            build=build_kind("implicit"),
            loss=deq_loss,
            solve=lambda model, batch: model(batch[0]),
            state_bytes=state_bytes,
            anderson_m=5,
            note="train._train DEQ phase: model(φ) (Anderson m = 5, phantom), rel. L2 + penalty",
            **common,
        ),
        Step(
            model="explicit",
            key="explicit",
            build=build_kind("explicit"),
            loss=explicit_loss,
            note="train._train: rel. L2",
            **common,
        ),
        Step(
            model="explicit_large",
            key="explicit_large",
            build=build_kind("explicit_large"),
            loss=explicit_loss,
            note="train._train: rel. L2",
            **common,
        ),
    ]


def test_navier_stokes_gpu_profile_fits_a_t4():
    """Navier–Stokes, gpu: 64² grid, batch 32; the FNO-DEQ (width 32, 12 modes, 4 tied layers)
    trained 12 unrolled iterations deep in its warm-up, then with Anderson (24 evaluations) and
    phantom gradients, both with the Jacobian penalty (a double backward); explicit FNOs of width
    32 and 64."""
    estimates = [measure(step, B_SMALL) for step in navier_stokes_steps()]
    _check(estimates, "navier-stokes, gpu profile")


def _navier_stokes_evaluations():
    """(name, grid, call, samples held at once) of the gpu chapter's no-grad passes of the
    FNO-DEQ that keep many states: the validation during training (``predict`` in chunks of 64
    with a budget of ``validation_iterations``), the convergence trace on the test flows
    (``evaluate.anderson_trace`` as the chapter calls it: states not kept, the flows in chunks of
    ``flows_per_chunk(grid)``) and the test on the finer grid (``predict``'s default chunk for
    that grid, ``test_iterations``)."""
    from implicit_edu.experiments.navier_stokes import config as ns_config
    from implicit_edu.experiments.navier_stokes import evaluate
    from implicit_edu.experiments.navier_stokes.train import predict

    cfg = ns_config("gpu")
    d, e = cfg.data, cfg.evaluate
    return [
        ("validation: predict", d.grid, min(64, d.num_val),
         lambda model, phi: predict(model, phi, cfg.train.validation_iterations)),
        ("anderson_trace of the test flows", d.grid,
         min(d.num_test, evaluate.flows_per_chunk(d.grid)),
         lambda model, phi: evaluate.anderson_trace(
             model, phi, e.test_iterations, keep_states=False)),
        ("predict on the fine grid", d.fine_grid,
         min(d.num_fine, max(1, min(64, 64 * 64**2 // d.fine_grid**2))),
         lambda model, phi: predict(model, phi, e.test_iterations)),
    ]  # fmt: skip


_NS_EVALUATIONS = [name for name, *_ in _navier_stokes_evaluations()]


@pytest.mark.parametrize("name", _NS_EVALUATIONS)
def test_navier_stokes_gpu_evaluation_fits_a_t4(name):
    """The FNO-DEQ's evaluations without gradients, which keep every Anderson iterate
    (``ImplicitFNO.anderson_states``): measured on one flow and scaled to the flows held at
    once (the peak of each of these passes is proportional to the flows: 1 and 2 flows gave the
    same bytes per flow when this test was written)."""
    from implicit_edu.experiments.navier_stokes import config as ns_config
    from implicit_edu.experiments.navier_stokes.data import random_forcing
    from implicit_edu.experiments.navier_stokes.train import build

    cfg = ns_config("gpu")
    d = cfg.data
    _, grid, samples, call = next(x for x in _navier_stokes_evaluations() if x[0] == name)
    torch.manual_seed(0)
    model = build("implicit", cfg, (d.rms, 1.0)).eval()

    def run(b: int):
        phi = random_forcing(b, grid, k_min=d.k_min, k_max=d.k_max, rms=d.rms, seed=0)
        call(model, phi)

    estimate, peak = no_grad_estimate(model, run, 1, samples)
    print(
        f"\nnavier-stokes gpu, {name}: {samples} flows at {grid}², peak {peak / 2**20:.1f} MiB "
        f"per flow, estimate {estimate / GIB:.2f} GiB (budget {BUDGET_BYTES / GIB:.2f} GiB)"
    )
    assert estimate <= BUDGET_BYTES, f"{name}: {estimate / GIB:.2f} GiB"


# ------------------------------------------------------------------------------ linear programs


def lp_steps() -> list[Step]:
    """The explicit and implicit GNNs of every embedding size, full-batch."""
    from implicit_edu.experiments.lp import config as lp_config
    from implicit_edu.experiments.lp.data import INSTANCE_FIELDS, random_instance
    from implicit_edu.experiments.lp.models import LPGraph, build, graph_batch

    cfg = lp_config("gpu")

    def make_batch(b: int):
        rng = np.random.default_rng(b)
        drawn = [random_instance(rng, cfg.m, cfg.n, cfg.nnz) for _ in range(b)]
        arrays = {k: np.stack([getattr(inst, k) for inst in drawn]) for k in INSTANCE_FIELDS}
        graph = graph_batch(arrays)
        return (*graph, torch.randn(b, cfg.n))  # random targets: no LP is solved

    def adam(parameters):
        return torch.optim.Adam(parameters, lr=cfg.lr)

    iterations = max(cfg.unroll_first, cfg.unroll_second)
    steps = []
    for kind in ("explicit", "implicit"):
        for d in cfg.embeddings:

            def make(kind=kind, d=d):
                model = build(kind, d)
                return model, model.parameters()

            def loss(model, batch):
                *graph, target = batch
                prediction = model(LPGraph(*graph), iterations)  # ignored by the explicit GNN
                return torch.mean((prediction - target) ** 2)

            label = f"{kind} d={d}" + (f" ({iterations} unrolled)" if kind == "implicit" else "")
            steps.append(
                Step(
                    case="lp",
                    model=label,
                    key=f"{kind}-d{d}",
                    batch=cfg.num_train,  # full-batch training
                    build=make,
                    make_batch=make_batch,
                    loss=loss,
                    optimizer=adam,
                    clip=cfg.clip,
                    note="train._train: full batch, MSE, unroll_second (the deeper unroll)",
                )
            )
    return steps


def test_lp_gpu_profile_fits_a_t4():
    """Linear programs, gpu: full-batch training on the 2500 training LPs (10 × 50), embeddings
    4 … 32, the implicit GNN unrolled 6 iterations (its deeper phase). The small batch is 50 LPs
    (what autograd saves at the full batch is measured too, for the largest model)."""
    steps = lp_steps()
    estimates = [measure(step, 50) for step in steps]
    _check(estimates, "linear programs, gpu profile")
    # the scaling assumption checked end to end on the largest model: what autograd saves at
    # B itself is what the estimate scaled up from b
    largest, estimate = steps[-1], estimates[-1]
    torch.manual_seed(0)
    model, _ = largest.build()
    batch = largest.make_batch(largest.batch)
    keep = [*model.parameters(), *model.buffers(), *batch]
    _, saved = saved_tensor_bytes(lambda: largest.loss(model, batch), exclude=keep)
    assert saved == pytest.approx(estimate.activation_bytes, rel=0.02)


# ------------------------------------------------------------------------------------ reasoning


def _worst_progressive_seed(iterations: int) -> int:
    """A generator seed for which progressive_loss draws n = 0 and k = T: backpropagation
    through all T iterations, the most memory the progressive loss can take."""
    for seed in range(200_000):
        g = torch.Generator().manual_seed(seed)
        n = int(torch.randint(0, iterations, (), generator=g))
        k = int(torch.randint(1, iterations - n + 1, (), generator=g))
        if n == 0 and k == iterations:
            return seed
    raise AssertionError("no seed gives the deepest progressive-loss draw")


def reasoning_steps() -> list[Step]:
    """The looped and feed-forward prefix-sum nets, the looped and explicit transformers."""
    from implicit_edu.experiments.reasoning import config as reasoning_config
    from implicit_edu.experiments.reasoning.data import chain_data
    from implicit_edu.experiments.reasoning.train import build, progressive_loss

    cfg = reasoning_config("gpu")
    ct, tt, cd = cfg.conv_train, cfg.transformer_train, cfg.chain_data
    seed = _worst_progressive_seed(ct.iterations)

    def bits(b: int):
        x = torch.randint(0, 2, (b, cfg.prefix_data.train_bits))  # int64 as prefix_sum_data
        return x, torch.cumsum(x, dim=1) % 2

    def chains(b: int):
        data = chain_data(b, cd.train_hops, cd.statements, b, cd.names, cd.max_distractor)
        return data["tokens"], data["targets"]

    def conv_adamw(parameters):
        return torch.optim.AdamW(parameters, lr=ct.lr, weight_decay=ct.weight_decay)

    def transformer_adamw(parameters):
        betas = (0.9, tt.beta2)
        return torch.optim.AdamW(parameters, lr=tt.lr, betas=betas, weight_decay=tt.weight_decay)

    def make(kind):
        def build_it():
            model = build(kind, cfg)
            return model, model.parameters()

        return build_it

    def recurrent_loss(model, batch):
        g = torch.Generator().manual_seed(seed)
        return progressive_loss(model, batch[0], batch[1], ct.iterations, ct.alpha, g)

    def feedforward_loss(model, batch):
        return F.cross_entropy(model(batch[0]), batch[1])

    def looped_loss(model, batch):  # the largest r the sampler can draw
        g = torch.Generator().manual_seed(0)
        logits = model(batch[0], tt.max_r, generator=g, grad_steps=tt.grad_steps)
        return F.cross_entropy(logits.flatten(0, 1), batch[1].flatten())

    def explicit_loss(model, batch):
        logits = model(batch[0], generator=torch.Generator().manual_seed(0))
        return F.cross_entropy(logits.flatten(0, 1), batch[1].flatten())

    return [
        Step(
            case="reasoning",
            model=f"recurrent_conv (T={ct.iterations}, n=0, k=T)",
            key="recurrent_conv",
            batch=ct.batch,
            build=make("recurrent_conv"),
            make_batch=bits,
            loss=recurrent_loss,
            optimizer=conv_adamw,
            clip=ct.clip,
            note="train.progressive_loss with a seed that draws n = 0, k = T (the deepest)",
        ),
        Step(
            case="reasoning",
            model=f"feedforward_conv (depth {ct.iterations})",
            key="feedforward_conv",
            batch=ct.batch,
            build=make("feedforward_conv"),
            make_batch=bits,
            loss=feedforward_loss,
            optimizer=conv_adamw,
            clip=ct.clip,
            note="train._train_conv: cross-entropy of the output",
        ),
        Step(
            case="reasoning",
            model=f"looped_transformer (r={tt.max_r}, grad {tt.grad_steps})",
            key="looped_transformer",
            batch=tt.batch,
            build=make("looped_transformer"),
            make_batch=chains,
            loss=looped_loss,
            optimizer=transformer_adamw,
            clip=tt.clip,
            note="train._train_transformer with r = max_r, the last grad_steps backpropagated",
        ),
        Step(
            case="reasoning",
            model=f"explicit_transformer (depth {cfg.transformer_model.explicit_depth})",
            key="explicit_transformer",
            batch=tt.batch,
            build=make("explicit_transformer"),
            make_batch=chains,
            loss=explicit_loss,
            optimizer=transformer_adamw,
            clip=tt.clip,
            note="train._train_transformer: cross-entropy on every statement",
        ),
    ]


def test_reasoning_gpu_profile_fits_a_t4():
    """Looped models, gpu: prefix sums of 32 bits in batches of 150, width 128, 30 iterations;
    variable chains of 24 statements in batches of 128, width 128, r up to 24 with the last 8
    backpropagated; the explicit twins. Huginn-0125 is not trained (inference only, about 7 GB
    of bf16 weights): it is not part of this dry run."""
    estimates = [measure(step, B_SMALL) for step in reasoning_steps()]
    _check(estimates, "reasoning, gpu profile")


# ----------------------------------------------------------------------------- the measurement


def test_measure_counts_a_known_step():
    """On a layer whose costs are known: y = tanh(W x), loss mean(y²). tanh saves its output
    (b × 64 floats); the matrix product saves its input x, an input of the step (left out)."""

    def build():
        layer = nn.Linear(32, 64, bias=False)
        return layer, layer.parameters()

    step = Step(
        case="toy",
        model="tanh",
        batch=1000,
        build=build,
        make_batch=lambda b: (torch.randn(b, 32),),
        loss=lambda layer, batch: torch.tanh(layer(batch[0])).square().mean(),
        optimizer=lambda p: torch.optim.Adam(p),
    )
    e = measure(step, 4)
    assert e.param_bytes == e.grad_bytes == 32 * 64 * 4
    assert e.optimizer_bytes >= 2 * e.param_bytes
    assert e.saved == (4 * 64 * 4, 8 * 64 * 4)
    assert e.ratio == pytest.approx(2.0)
    assert e.activation_bytes == pytest.approx(1000 * 64 * 4)
    assert e.solver_bytes == 0
    assert e.step_peak[0] >= e.saved[0] + e.param_bytes  # the saved output and the gradient
    assert e.fits
