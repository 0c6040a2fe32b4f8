"""A first trained implicit model: the chapter "A first trained implicit model" (Part III).

The task is scikit-learn's 8 × 8 handwritten digits (1797 images, shipped inside scikit-learn).
Two classifiers with (almost) the same number of parameters are trained on it in the same way:

* the **implicit** classifier, a deep equilibrium model {bai2019deep} in the form of the paper,

      z* = g(z*, Q(x)),    g(z, q) = tanh(W z + q),    Q(x) = U x + b,    ŷ = R z* + c,     (1)

  with ``W = μ V / ||V||₂`` spectrally normalised (so z ↦ g(z, q) is a μ-contraction for every
  input), solved by :class:`~implicit_edu.core.deq.DEQ` (Anderson acceleration forwards, the
  implicit function theorem backwards). The operator is
  :class:`~implicit_edu.core.regular.TanhOperator`, whose ``U x + b`` is the input injection Q(x);
  R, c is a linear read-out;
* the **explicit** classifier, a tanh MLP 64 → h → ... → h → 10 with h chosen so that its
  parameter count matches the implicit one's.

The images are split three ways (:func:`split_indices`, :func:`load`), stratified by class: a
training set, a validation set and a test set. Both models are trained for the same number of
epochs, and each is reported at the epoch of its highest validation accuracy (the earlier one on
ties; :func:`early_stop_epoch`), the same rule for both; the test set is used for no choice.

At test time the implicit model can run any number t of Picard steps z_t = g(z_{t-1}, Q(x))
from z_0 = 0 and read out ŷ_t = R z_t + c: :func:`accuracy_vs_iterations` measures how its
accuracy depends on t. :func:`contraction_diagnostics` measures how fast the iteration converges
on each test image (the empirical rate, the spectral radius and norm of the Jacobian at z*).
"""

from __future__ import annotations

import copy
import math
import numbers
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from implicit_edu.core.deq import DEQ
from implicit_edu.core.parameters import parameter_count
from implicit_edu.core.regular import TanhOperator
from implicit_edu.core.solvers import iterate
from implicit_edu.runtime.notebook import show_progress
from implicit_edu.runtime.profiles import get_device, pick, seed_everything

__all__ = [
    "N_CLASSES",
    "N_PIXELS",
    "ContractionDiagnostics",
    "DigitsConfig",
    "ExplicitClassifier",
    "History",
    "ImplicitClassifier",
    "accuracy",
    "accuracy_vs_iterations",
    "SeedRun",
    "Splits",
    "build_pair",
    "certified_fraction",
    "certify",
    "config",
    "contraction_diagnostics",
    "early_stop_epoch",
    "explicit_parameter_count",
    "implicit_parameter_count",
    "load",
    "matched_hidden_width",
    "run_seed",
    "split_indices",
    "total_seconds",
    "train",
]

N_PIXELS = 64  # 8 × 8 images
N_CLASSES = 10
N_IMAGES = 1797  # scikit-learn's digits


# --------------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class DigitsConfig:
    """Everything the chapter's experiment depends on; :func:`config` picks it by profile.

    Attributes:
        width: size n of the implicit state z.
        mu: the contraction bound ||W||₂ = μ of the operator.
        explicit_depth: hidden layers of the explicit MLP (its width is matched by count).
        epochs, batch_size, lr: Adam training, the same for both models; ``epochs`` is the
            budget, and each model is reported at its best epoch on validation
            (:func:`early_stop_epoch`).
        tol, max_iter: the DEQ's forward and backward solves (relative residual, Anderson).
        seeds: how many seeds (split, initialisation and batch order) to repeat everything for.
        test_size: images held out for testing (stratified by class).
        val_fraction: the share of the remaining images held out for validation (stratified).
        eval_iterations: the test-time iteration counts t of the accuracy curve.

    All of these are fixed by hand, the same for both models where they apply; none is searched
    over. The one choice made from data is the early-stop epoch, on the validation split.
    """

    width: int = 64
    mu: float = 0.9
    explicit_depth: int = 2
    epochs: int = 25
    batch_size: int = 64
    lr: float = 3e-3
    tol: float = 1e-5
    max_iter: int = 60
    seeds: int = 3
    test_size: int = 500
    val_fraction: float = 0.15
    eval_iterations: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128)


def config(profile: str | None = None) -> DigitsConfig:
    """The chapter's configuration for a profile (default: the current one)."""
    return DigitsConfig(
        width=pick(smoke=32, cpu=64, gpu=128, profile=profile),
        epochs=pick(smoke=3, cpu=25, gpu=40, profile=profile),
        seeds=pick(smoke=1, cpu=3, gpu=5, profile=profile),
    )


# ------------------------------------------------------------------------------------------ data


def _check_split_sizes(seed: int, test_size: int, val_fraction: float) -> tuple[int, int, int]:
    """(train, validation, test) sizes of :func:`split_indices`, or a ValueError saying why not."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Integral):
        raise ValueError(
            f"test_size is a number of images (an int, default 500), got {test_size!r}; "
            "the validation split is set by val_fraction instead"
        )
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, numbers.Real):
        raise ValueError(f"val_fraction must be a number in (0, 1), got {val_fraction!r}")
    if not 0 < val_fraction < 1:
        raise ValueError(
            f"val_fraction is the share of the non-test images held out for validation and must "
            f"lie strictly between 0 and 1 (default 0.15), got {val_fraction!r}"
        )
    if not N_CLASSES <= test_size <= N_IMAGES - 2 * N_CLASSES:
        raise ValueError(
            f"test_size must lie between {N_CLASSES} (one image per class) and "
            f"{N_IMAGES - 2 * N_CLASSES} (so that training and validation keep one image per "
            f"class each), got {test_size}"
        )
    rest = N_IMAGES - int(test_size)
    val_size = round(val_fraction * rest)
    train_size = rest - val_size
    if min(val_size, train_size) < N_CLASSES:
        raise ValueError(
            f"val_fraction={val_fraction} of the {rest} non-test images leaves {train_size} "
            f"training and {val_size} validation images; a stratified split needs at least "
            f"{N_CLASSES} (one per class) in each: move val_fraction towards 0.5 or lower "
            "test_size"
        )
    return train_size, val_size, int(test_size)


def split_indices(
    seed: int, test_size: int = 500, val_fraction: float = 0.15
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices ``(train, validation, test)`` of a stratified random split of the 1797 digits.

    First ``test_size`` images are drawn for the test set (stratified by class); then
    ``round(val_fraction * rest)`` of the remaining images for the validation set (stratified
    again); the rest is the training set. The default sizes are 1102, 195 and 500. The split is
    fixed by ``seed``; the test set is the same as in the earlier two-way split with that seed.
    Each array is sorted; together they are a partition of ``range(1797)``.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    _, val_size, test_size = _check_split_sizes(seed, test_size, val_fraction)
    labels = load_digits().target
    rest, test = train_test_split(
        np.arange(len(labels)), test_size=test_size, stratify=labels, random_state=seed
    )
    train, val = train_test_split(
        rest, test_size=val_size, stratify=labels[rest], random_state=seed
    )
    return np.sort(train), np.sort(val), np.sort(test)


@dataclass(frozen=True, eq=False)
class Splits:
    """The digits in three splits: pixels ``x_*`` of shape (N, 64), labels ``y_*`` of shape (N,).

    The fields are named, not numbered: ``data.x_test`` rather than ``data[2]``. (Before the
    validation split was added, :func:`load` returned a 4-tuple; indexing or unpacking a
    :class:`Splits` by position raises a TypeError that says so, instead of silently handing
    out the wrong split.)
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    def __post_init__(self) -> None:
        for name in ("train", "val", "test"):
            x, y = getattr(self, f"x_{name}"), getattr(self, f"y_{name}")
            if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
                raise ValueError(f"x_{name} and y_{name} must be torch tensors")
            if x.ndim != 2 or x.shape[1] != N_PIXELS or y.shape != (x.shape[0],) or not len(x):
                raise ValueError(
                    f"the {name} split needs images x_{name} of shape (N, {N_PIXELS}) and labels "
                    f"y_{name} of shape (N,) with N >= 1, got {tuple(x.shape)} and "
                    f"{tuple(y.shape)}"
                )

    def __getitem__(self, index):
        raise TypeError(
            "digits.Splits is indexed by name, not by position: use data.x_train, data.y_train, "
            "data.x_val, data.y_val, data.x_test, data.y_test (the old 4-tuple "
            "(x_train, y_train, x_test, y_test) had no validation split)"
        )


def load(
    seed: int = 0,
    test_size: int = 500,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    val_fraction: float = 0.15,
) -> Splits:
    """The three splits of :func:`split_indices` as :class:`Splits`; pixels scaled to [0, 1].

    Images are flattened to shape (N, 64); labels are 0–9. The split is stratified (each class
    keeps its share in all three parts) and fixed by ``seed``; the default sizes are 1102
    training, 195 validation and 500 test images. The raw pixels are integers 0–16, divided by
    16. Tensors are created on ``device`` (default:
    :func:`~implicit_edu.runtime.profiles.get_device`) with ``dtype`` (default:
    torch's default dtype).
    """
    from sklearn.datasets import load_digits

    indices = split_indices(seed, test_size, val_fraction)  # checks the arguments first
    digits = load_digits()
    device = torch.device(device) if device is not None else get_device()
    dtype = dtype or torch.get_default_dtype()
    x = torch.as_tensor(digits.data / 16.0, dtype=dtype, device=device)
    y = torch.as_tensor(digits.target, dtype=torch.long, device=device)
    train, val, test = (torch.as_tensor(i, device=device) for i in indices)
    return Splits(x[train], y[train], x[val], y[val], x[test], y[test])


# ---------------------------------------------------------------------------------------- models


def implicit_parameter_count(width: int, n_in: int = N_PIXELS, n_out: int = N_CLASSES) -> int:
    """Parameters of (1): V (n × n), U (n × n_in), b (n), R (n_out × n), c (n_out)."""
    return width * width + width * n_in + width + n_out * width + n_out


def explicit_parameter_count(
    hidden: int, depth: int = 2, n_in: int = N_PIXELS, n_out: int = N_CLASSES
) -> int:
    """Parameters of an MLP n_in → h → ... → h → n_out with ``depth`` hidden layers of width h."""
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    first = n_in * hidden + hidden
    middle = (depth - 1) * (hidden * hidden + hidden)
    last = hidden * n_out + n_out
    return first + middle + last


def matched_hidden_width(count: int, depth: int = 2) -> int:
    """The hidden width h whose MLP (``depth`` hidden layers) has the count closest to ``count``."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    h = 1
    while explicit_parameter_count(h, depth) <= count:  # the count grows with h
        h += 1
    # h is the first width above the count, h - 1 the last one at or below it
    candidates = (max(h - 1, 1), h)
    return min(candidates, key=lambda w: abs(explicit_parameter_count(w, depth) - count))


class ImplicitClassifier(nn.Module):
    """The implicit classifier (1): a DEQ on g(z, Q(x)) = tanh(W z + U x + b), then R z* + c.

    Args:
        width: size n of the state z.
        mu: ||W||₂; below 1, the operator is a μ-contraction in z for every image.
        tol, max_iter: forward and backward solves of the DEQ.
        solver: forward method of the DEQ (Anderson by default).
        backward: the DEQ's backward mode ("ift": implicit differentiation).
    """

    def __init__(
        self,
        width: int = 64,
        mu: float = 0.9,
        tol: float = 1e-5,
        max_iter: int = 60,
        solver: str = "anderson",
        backward: str = "ift",
    ) -> None:
        super().__init__()
        self.layer = DEQ(
            TanhOperator(width, N_PIXELS, mu=mu),
            solver=solver,
            backward=backward,
            tol=tol,
            max_iter=max_iter,
            warn_on_nonconvergence=False,  # the training loop records convergence instead
        )
        self.readout = nn.Linear(width, N_CLASSES)

    @property
    def operator(self) -> TanhOperator:
        """The operator g (its ``U x + b`` is the input injection Q(x))."""
        return self.layer.g

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits R z* + c at the fixed point z* = g(z*, Q(x)), solved to the DEQ's tolerance."""
        return self.readout(self.layer(x))

    @torch.no_grad()
    def states(self, x: torch.Tensor, steps: Sequence[int]) -> dict[int, torch.Tensor]:
        """The Picard iterates z_t = g(z_{t-1}, Q(x)) from z_0 = 0 for each t in ``steps``."""
        wanted = sorted(set(int(t) for t in steps))
        if wanted and wanted[0] < 0:
            raise ValueError(f"iteration counts must be >= 0, got {wanted[0]}")
        z, done, out = self.operator.initial_state(x), 0, {}
        for t in wanted:  # from one wanted step to the next, keeping only the wanted states
            z = iterate(lambda s: self.operator(s, x), z, t - done)[-1]
            out[t], done = z.clone(), t
        return out

    @torch.no_grad()
    def logits_after(self, x: torch.Tensor, steps: int) -> torch.Tensor:
        """The read-out R z_t + c after t Picard steps from z_0 = 0 (t = 0: the bias c alone)."""
        return self.readout(self.states(x, [steps])[steps])


class ExplicitClassifier(nn.Sequential):
    """A tanh MLP 64 → h → ... → h → 10 with ``depth`` hidden layers of width ``hidden``."""

    def __init__(self, hidden: int, depth: int = 2) -> None:
        layers: list[nn.Module] = []
        size = N_PIXELS
        for _ in range(depth):
            layers += [nn.Linear(size, hidden), nn.Tanh()]
            size = hidden
        layers.append(nn.Linear(size, N_CLASSES))
        super().__init__(*layers)


# -------------------------------------------------------------------------------------- training


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The fraction of rows whose largest logit is at the label."""
    return float((logits.argmax(dim=1) == labels).double().mean())


@dataclass
class History:
    """What :func:`train` recorded.

    Per epoch: ``loss`` (mean training cross-entropy), ``val_accuracy`` and ``test_accuracy``
    (after the epoch; the early-stop epoch is chosen on ``val_accuracy`` alone, see
    :func:`early_stop_epoch`, and ``test_accuracy`` is only read at that epoch) and
    ``epoch_seconds`` (wall time of the epoch's training steps, without the evaluation).
    Per training step, for an implicit model only (read from ``layer.forward_result`` and
    ``layer.backward_result``): ``forward_iterations``, ``forward_residual`` (largest relative
    residual in the batch at the returned z*), ``forward_converged`` and ``backward_iterations``.
    """

    loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    forward_iterations: list[int] = field(default_factory=list)
    forward_residual: list[float] = field(default_factory=list)
    forward_converged: list[bool] = field(default_factory=list)
    backward_iterations: list[int] = field(default_factory=list)


def early_stop_epoch(history: History) -> int:
    """The epoch (counted from 1) with the highest validation accuracy; ties go to the earlier one.

    This is the early stop of the chapter, the same rule for the implicit and the explicit model.
    It reads ``history.val_accuracy`` only, never the test accuracy.
    """
    scores = np.asarray(history.val_accuracy, dtype=float)
    if scores.ndim != 1 or scores.size == 0:
        raise ValueError(
            "the history has no validation accuracies to choose an epoch from: train for at "
            "least one epoch with digits.train(model, digits.load(seed), ...)"
        )
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"validation accuracies must be finite, got {history.val_accuracy}")
    return int(np.argmax(scores)) + 1  # argmax returns the first of equal maxima


def _check_splits(data: object) -> Splits:
    if isinstance(data, Splits):
        return data
    got = f"a {type(data).__name__}" + (
        f" of {len(data)}" if isinstance(data, (tuple, list)) else ""
    )
    raise ValueError(
        f"data must be the digits.Splits that digits.load(seed) returns (training, validation "
        f"and test tensors), got {got}. The early stop needs a validation split: the old "
        "4-tuple (x_train, y_train, x_test, y_test) has none. Pass digits.load(seed), or "
        "digits.Splits(x_train, y_train, x_val, y_val, x_test, y_test) for your own tensors."
    )


def train(
    model: nn.Module,
    data: Splits,
    epochs: int,
    batch_size: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
    progress: bool | None = None,
    early_stop: bool = True,
) -> History:
    """Train ``model`` by Adam on the cross-entropy, in seeded shuffled mini-batches.

    ``data`` is the :class:`Splits` from :func:`load`; training uses ``x_train, y_train`` only.
    After every epoch the validation and test accuracies are recorded (for the implicit model:
    at the fixed point, solved to the DEQ's tolerance). With ``early_stop`` (the default), the
    model is left with its weights from :func:`early_stop_epoch`, the epoch of the best
    validation accuracy; otherwise with those of the last epoch. Returns the :class:`History`.
    """
    from tqdm.auto import trange

    data = _check_splits(data)
    if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 1:
        raise ValueError(f"epochs must be an int >= 1, got {epochs!r}")
    x_train, y_train = data.x_train, data.y_train
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    shuffle = torch.Generator().manual_seed(seed)
    layer = model.layer if isinstance(model, ImplicitClassifier) else None
    history = History()
    weights = []  # the state after each epoch, for the early stop
    bar = trange(epochs, desc=type(model).__name__, disable=not show_progress(progress))
    for _ in bar:
        model.train()
        order = torch.randperm(len(x_train), generator=shuffle).to(x_train.device)
        total, start = 0.0, time.perf_counter()
        for batch in order.split(batch_size):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x_train[batch]), y_train[batch])
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
            if layer is not None:
                forward = layer.forward_result
                history.forward_iterations.append(forward.iterations)
                history.forward_residual.append(float(forward.sample_residuals.max()))
                history.forward_converged.append(bool(forward.converged))
                backward = layer.backward_result
                history.backward_iterations.append(backward.iterations if backward else 0)
        if x_train.is_cuda:
            torch.cuda.synchronize()
        history.epoch_seconds.append(time.perf_counter() - start)
        history.loss.append(total / len(x_train))
        model.eval()
        with torch.no_grad():
            history.val_accuracy.append(accuracy(model(data.x_val), data.y_val))
            history.test_accuracy.append(accuracy(model(data.x_test), data.y_test))
        if early_stop:
            weights.append(copy.deepcopy(model.state_dict()))
        bar.set_postfix(loss=f"{history.loss[-1]:.3f}", val_acc=f"{history.val_accuracy[-1]:.3f}")
    if early_stop:
        model.load_state_dict(weights[early_stop_epoch(history) - 1])
    model.eval()
    return history


def build_pair(cfg: DigitsConfig, seed: int) -> tuple[ImplicitClassifier, ExplicitClassifier]:
    """The implicit classifier and its parameter-matched explicit MLP, seeded, on the device."""
    device = get_device()
    seed_everything(seed)
    implicit = ImplicitClassifier(cfg.width, cfg.mu, cfg.tol, cfg.max_iter).to(device)
    hidden = matched_hidden_width(parameter_count(implicit), cfg.explicit_depth)
    seed_everything(seed)
    explicit = ExplicitClassifier(hidden, cfg.explicit_depth).to(device)
    return implicit, explicit


# ------------------------------------------------------------------------------------ evaluation


@torch.no_grad()
def accuracy_vs_iterations(
    model: ImplicitClassifier, x: torch.Tensor, y: torch.Tensor, steps: Sequence[int]
) -> list[float]:
    """Test accuracy of the read-out after t Picard steps from z_0 = 0, for each t in ``steps``."""
    model.eval()
    states = model.states(x, steps)
    return [accuracy(model.readout(states[int(t)]), y) for t in steps]


@torch.no_grad()
def certify(model: ImplicitClassifier, x: torch.Tensor, t: int) -> torch.Tensor:
    """Which images' t-step predictions are *certified*: provably the fixed point's class.

    With μ = ||W||₂ < 1 the Banach a-posteriori bound gives ||z_t - z*|| <= δ_t =
    μ/(1-μ) ||z_t - z_{t-1}||, and the read-out rows r_j change the logit gap of classes i, j
    by at most ||r_i - r_j|| δ_t. So if the predicted class i has the gap
    (ŷ_t)_i - (ŷ_t)_j > ||r_i - r_j|| δ_t for every j ≠ i, the fixed point predicts i as well.
    Returns a boolean tensor of shape (B,); at t = 0 (no previous iterate) nothing is certified.
    """
    model.eval()
    mu = model.operator.mu
    if not mu < 1:
        raise ValueError(f"the certificate needs mu < 1, got {mu}")
    if t == 0:
        return torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    states = model.states(x, [t - 1, t])
    rows = model.readout.weight  # r_j, (10, n)
    logits = model.readout(states[t])
    predicted = logits.argmax(dim=1)
    delta = mu / (1 - mu) * (states[t] - states[t - 1]).norm(dim=1)  # δ_t, (B,)
    gaps = logits.gather(1, predicted[:, None]) - logits  # (ŷ_t)_i - (ŷ_t)_j, (B, 10)
    needed = torch.cdist(rows, rows)[predicted] * delta[:, None]  # ||r_i - r_j|| δ_t
    other = torch.arange(N_CLASSES, device=x.device) != predicted[:, None]
    return ((gaps > needed) | ~other).all(dim=1)


def certified_fraction(
    model: ImplicitClassifier, x: torch.Tensor, steps: Sequence[int]
) -> list[float]:
    """For each t in ``steps``, the fraction of images whose t-step prediction is certified."""
    return [float(certify(model, x, int(t)).double().mean()) for t in steps]


@dataclass
class ContractionDiagnostics:
    """How fast the trained operator contracts, per test image (tensors of shape (B,)).

    Attributes:
        spectral_norm_W: ||W||₂ (one number; μ by construction).
        jacobian_norm: ||J(x)||₂ with J(x) = diag(1 - z*²) W, the Jacobian ∂g/∂z at z*(x).
        spectral_radius: ρ(J(x)), the largest modulus of an eigenvalue of J(x).
        empirical_rate: the measured rate (d_K / d_k)^(1/(K-k)) of the Picard steps
            d_j = ||z_{j+1} - z_j|| = ||g(z_j) - z_j|| from z_0 = 0, between steps k and K.
    """

    spectral_norm_W: float
    jacobian_norm: torch.Tensor
    spectral_radius: torch.Tensor
    empirical_rate: torch.Tensor


@torch.no_grad()
def contraction_diagnostics(
    model: ImplicitClassifier, x: torch.Tensor, first: int = 5, last: int = 40
) -> ContractionDiagnostics:
    """Measure how z ↦ g(z, Q(x)) contracts on the images x (see :class:`ContractionDiagnostics`).

    The empirical rate uses the Picard steps d_j from j = ``first`` to j = ``last``; for an image
    whose steps fall below 1e-12 d_0 (rounding level) earlier, the window ends at its last step
    above that level.
    """
    model.eval()
    W = model.operator.W
    states = model.states(x, range(last + 2))
    d = torch.stack([(states[j + 1] - states[j]).norm(dim=1) for j in range(last + 1)])  # (K, B)
    above_floor = d > 1e-12 * d[0]
    rates = torch.zeros(d.shape[1], dtype=x.dtype)
    for i in range(d.shape[1]):
        usable = torch.nonzero(above_floor[first:, i]).flatten()
        end = first + int(usable[-1]) if len(usable) else first
        if end > first:
            rates[i] = float((d[end, i] / d[first, i]) ** (1.0 / (end - first)))
    z_star = model.layer(x)
    jacobians = (1 - z_star**2)[:, :, None] * W[None]  # diag(1 - z*²) W, one per image
    return ContractionDiagnostics(
        spectral_norm_W=float(torch.linalg.matrix_norm(W, 2)),
        jacobian_norm=torch.linalg.matrix_norm(jacobians, 2).cpu(),
        spectral_radius=torch.linalg.eigvals(jacobians).abs().amax(dim=1).cpu(),
        empirical_rate=rates,
    )


# ---------------------------------------------------------------------------------- experiment


@dataclass
class SeedRun:
    """Everything :func:`run_seed` produced for one seed (the models at their early-stop epochs)."""

    seed: int
    data: Splits
    implicit: ImplicitClassifier
    explicit: ExplicitClassifier
    implicit_history: History
    explicit_history: History
    implicit_epoch: int  # the early-stop epoch, chosen on validation (counted from 1)
    explicit_epoch: int
    iteration_accuracy: list[float]  # at cfg.eval_iterations, on the test set
    certified: list[float]  # at cfg.eval_iterations, on the test set
    fixed_point_accuracy: float  # test accuracy at the early-stop epoch
    explicit_accuracy: float  # test accuracy at the early-stop epoch


def run_seed(cfg: DigitsConfig, seed: int, progress: bool | None = None) -> SeedRun:
    """Split the data, build both models, train them alike, and evaluate them on the test set.

    Both models are trained for ``cfg.epochs`` epochs and kept at their early-stop epoch, the
    one of the best validation accuracy (:func:`early_stop_epoch`); the test set is evaluated
    only for the reported numbers.
    """
    data = load(seed, cfg.test_size, val_fraction=cfg.val_fraction)
    implicit, explicit = build_pair(cfg, seed)
    options = dict(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, seed=seed)
    implicit_history = train(implicit, data, progress=progress, **options)
    explicit_history = train(explicit, data, progress=progress, **options)
    x_test, y_test = data.x_test, data.y_test
    with torch.no_grad():
        fixed_point_accuracy = accuracy(implicit(x_test), y_test)
        explicit_accuracy = accuracy(explicit(x_test), y_test)
    return SeedRun(
        seed=seed,
        data=data,
        implicit=implicit,
        explicit=explicit,
        implicit_history=implicit_history,
        explicit_history=explicit_history,
        implicit_epoch=early_stop_epoch(implicit_history),
        explicit_epoch=early_stop_epoch(explicit_history),
        iteration_accuracy=accuracy_vs_iterations(implicit, x_test, y_test, cfg.eval_iterations),
        certified=certified_fraction(implicit, x_test, cfg.eval_iterations),
        fixed_point_accuracy=fixed_point_accuracy,
        explicit_accuracy=explicit_accuracy,
    )


def total_seconds(history: History) -> float:
    """The total training time recorded in a :class:`History`."""
    return math.fsum(history.epoch_seconds)
