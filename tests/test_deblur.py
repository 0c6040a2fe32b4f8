"""The deblurring case study: blur operator, PSNR, operators, DEQ gradients, convergence."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio

from implicit_edu import DEQ, iterate
from implicit_edu.core.parameters import parameter_count
from implicit_edu.experiments import deblur
from implicit_edu.experiments.deblur import (
    BlurOperator,
    Denoiser,
    ImplicitHQS,
    ImplicitPGD,
    gaussian_kernel,
    motion_kernel,
    psnr,
)

SHAPE = (16, 12)


@pytest.fixture(params=["motion", "gaussian"])
def blur(request):
    kernel = motion_kernel(7, seed=1) if request.param == "motion" else gaussian_kernel(5, 1.2)
    return BlurOperator(kernel, SHAPE)


def test_kernels_are_normalised_and_non_negative():
    for kernel in (motion_kernel(9, seed=s) for s in range(4)):
        assert kernel.shape == (9, 9) and kernel.min() >= 0
        assert np.isclose(kernel.sum(), 1) and (kernel > 0).sum() > 3  # a path, not a point
    assert np.isclose(gaussian_kernel(5, 1.0).sum(), 1)


def test_forward_is_circular_convolution():
    kernel = motion_kernel(5, seed=2)
    blur = BlurOperator(kernel, SHAPE)
    y = torch.rand(1, 1, *SHAPE, dtype=torch.float64)
    direct = torch.zeros_like(y)
    for i in range(5):
        for j in range(5):  # (A y)(n) = sum_m k(m) y(n − m), m centred on the kernel
            direct += kernel[i, j] * torch.roll(y, shifts=(i - 2, j - 2), dims=(-2, -1))
    torch.testing.assert_close(blur.forward(y), direct)


def test_adjoint_is_the_adjoint(blur):
    generator = torch.Generator().manual_seed(0)
    y = torch.randn(3, 2, *SHAPE, dtype=torch.float64, generator=generator)
    x = torch.randn(3, 2, *SHAPE, dtype=torch.float64, generator=generator)
    left = (blur.forward(y) * x).sum()
    right = (y * blur.adjoint(x)).sum()
    torch.testing.assert_close(left, right, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("beta", [1e-3, 0.5, 4.0])
def test_solve_inverts_the_hqs_matrix(blur, beta):
    r = torch.randn(2, 1, *SHAPE, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    z = blur.solve(r, beta)
    torch.testing.assert_close(blur.adjoint(blur.forward(z)) + beta * z, r, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(blur.solve(blur.adjoint(blur.forward(r)) + beta * r, beta), r)


def test_singular_vectors(blur):
    values = blur.singular_values()
    assert np.isclose(blur.norm(), 1.0) and np.isclose(float(values[0]), 1.0)
    for rank in (0.0, 0.1, 0.5, 0.9, 1.0):
        v, s = blur.singular_vector(rank)
        assert np.isclose(float(v.norm()), 1.0)
        v = v[None, None]
        torch.testing.assert_close(blur.adjoint(blur.forward(v)), s**2 * v, atol=1e-12, rtol=0)
    assert blur.singular_vector(0.9)[1] <= blur.singular_vector(0.1)[1]


def test_psnr_agrees_with_scikit_image():
    rng = np.random.default_rng(0)
    reference = rng.random((4, 1, 10, 10))
    x = np.clip(reference + 0.05 * rng.normal(size=reference.shape), 0, 1)
    ours = psnr(torch.from_numpy(x), torch.from_numpy(reference), data_range=1.0)
    for i in range(4):
        want = peak_signal_noise_ratio(reference[i], x[i], data_range=1.0)
        assert np.isclose(float(ours[i]), want, rtol=1e-12)
    single = psnr(torch.from_numpy(x[0, 0]), torch.from_numpy(reference[0, 0]), data_range=2.0)
    assert np.isclose(
        float(single), peak_signal_noise_ratio(reference[0, 0], x[0, 0], data_range=2.0)
    )


def test_bad_input_gets_clear_errors():
    with pytest.raises(ValueError, match="odd"):
        BlurOperator(np.ones((4, 4)) / 16, SHAPE)
    with pytest.raises(ValueError, match="larger than"):
        BlurOperator(np.ones((5, 5)) / 25, (4, 4))
    blur = BlurOperator(gaussian_kernel(3, 1.0), SHAPE)
    with pytest.raises(ValueError, match="image shape"):
        blur.forward(torch.zeros(1, 1, 8, 8))
    with pytest.raises(TypeError, match="torch.Tensor"):
        blur.adjoint(np.zeros(SHAPE))
    with pytest.raises(ValueError, match="positive"):
        blur.solve(torch.zeros(1, 1, *SHAPE), 0.0)
    with pytest.raises(ValueError, match="rank"):
        blur.singular_vector(1.5)
    with pytest.raises(ValueError, match="same shape"):
        psnr(torch.zeros(2, 3), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="odd integer"):
        motion_kernel(8)
    with pytest.raises(ValueError, match="divisible"):
        Denoiser(1, 4, scales=3)(torch.zeros(1, 1, 6, 6), 0.1)
    with pytest.raises(ValueError, match="batch, 1"):
        Denoiser(1, 4, scales=2)(torch.zeros(1, 3, 8, 8), 0.1)
    with pytest.raises(ValueError, match="in \\(0, 1\\)"):
        ImplicitPGD(Denoiser(1, 4, 2), blur, gamma=1.5)
    with pytest.raises(TypeError, match="Denoiser"):
        ImplicitHQS(torch.nn.Identity(), blur)
    with pytest.raises(ValueError, match="unknown model"):
        deblur.build_model(deblur.config("smoke"), "explicit-xl")
    with pytest.raises(ValueError, match="square"):
        deblur.build_denoiser(deblur.config("smoke"), 3)
    with pytest.raises(ValueError, match="unknown image"):
        deblur.load_image("eagle", colour=False)
    with pytest.raises(TypeError, match="DeblurConfig"):
        deblur.make_blur({"crop": 16})


class _Contraction(Denoiser):
    """A denoiser scaled to be a contraction: H(y) = c · y with ‖c‖ < 1, plus a small U-Net term."""

    def forward(self, y, sigma):
        return 0.5 * y + 0.05 * torch.tanh(super().forward(y, sigma) - y)


def _small_pgd(dtype=torch.float32):
    torch.manual_seed(0)
    denoiser = _Contraction(1, 2, scales=2, blocks=1)
    blur = BlurOperator(gaussian_kernel(3, 0.8), (8, 8))
    return ImplicitPGD(denoiser, blur, gamma=0.8, sigma=0.05).to(dtype)


def test_pgd_with_a_contractive_denoiser_converges():
    operator = _small_pgd(torch.float64)
    x = torch.rand(3, 1, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        steps = iterate(lambda y: operator(y, x), x.clone(), 60)
    gaps = [float((steps[t + 1] - steps[t]).norm()) for t in range(len(steps) - 1)]
    assert gaps[-1] < 1e-10 * max(gaps[0], 1e-30) + 1e-12
    assert all(
        later <= 0.7 * earlier + 1e-14 for earlier, later in zip(gaps[:20], gaps[1:21], strict=True)
    )
    layer = DEQ(operator, solver="anderson", tol=1e-10, max_iter=100)
    y = layer(x)
    assert layer.forward_result.converged
    torch.testing.assert_close(y, steps[-1], atol=1e-8, rtol=0)


def test_pgd_deq_gradients_pass_gradcheck():
    operator = _small_pgd(torch.float64)
    layer = DEQ(
        operator,
        solver="anderson",
        backward="ift",
        tol=1e-12,
        max_iter=200,
        backward_tol=1e-12,
        backward_max_iter=200,
    )
    x = torch.rand(1, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    target = torch.rand(1, 1, 8, 8, dtype=torch.float64)

    # gradients in x through the fixed point, by the implicit function theorem
    assert torch.autograd.gradcheck(
        lambda xi: ((layer(xi) - target) ** 2).sum(), (x,), eps=1e-6, atol=1e-6
    )
    # gradient in γ (a parameter of G) against a central difference
    layer.zero_grad()
    ((layer(x.detach()) - target) ** 2).sum().backward()
    analytic = operator.gamma_raw.grad.item()
    base = operator.gamma_raw.item()
    values = []
    for shift in (1e-6, -1e-6):
        with torch.no_grad():
            operator.gamma_raw.fill_(base + shift)
            values.append(float(((layer(x.detach()) - target) ** 2).sum()))
    with torch.no_grad():
        operator.gamma_raw.fill_(base)
    assert np.isclose(analytic, (values[0] - values[1]) / 2e-6, rtol=1e-5, atol=1e-9)


def test_hqs_step_and_explicit_model_shapes():
    cfg = deblur.config("smoke")
    for name in deblur.MODEL_NAMES:
        model = deblur.build_model(cfg, name)
        x = torch.rand(2, cfg.channels, cfg.crop, cfg.crop)
        out = model(x, x) if name in ("pgd", "hqs") else model(x)
        assert out.shape == x.shape
    sizes = [parameter_count(deblur.build_denoiser(cfg, m)) for m in (1, 4, 16)]
    assert 3 < sizes[1] / sizes[0] < 5 and 12 < sizes[2] / sizes[0] < 20


def test_data_split_and_crops():
    train, val, test = map(set, (deblur.TRAIN_IMAGES, deblur.VALIDATION_IMAGES, deblur.TEST_IMAGES))
    assert not train & val and not train & test and not val & test and val and test
    crops = deblur.random_crops(("camera",), 5, 16, False, np.random.default_rng(0))
    assert crops.shape == (5, 1, 16, 16) and 0 <= crops.min() and crops.max() <= 1
    assert deblur.load_image("coffee", colour=True).shape[0] == 3
    names = ("camera", "coins", "clock")
    crops, sources = deblur.random_crops(
        names, 8, 16, False, np.random.default_rng(1), balanced=True, return_sources=True
    )
    assert sources.tolist() == [0, 1, 2, 0, 1, 2, 0, 1]
    for crop, source in zip(crops, sources, strict=True):  # each crop lies in its own image
        image = deblur.load_image(names[source], colour=False)[0]
        windows = np.lib.stride_tricks.sliding_window_view(image, (16, 16))
        found = any(
            np.any(np.all(windows == np.rot90(variant, k), axis=(-1, -2)))
            for variant in (crop[0], crop[0][:, ::-1])
            for k in range(4)
        )
        assert found


def test_data_of_the_configuration():
    cfg = deblur.config("smoke")
    data = deblur.make_data(cfg)
    assert data["validation"].shape == (cfg.validation_crops, 1, cfg.crop, cfg.crop)
    assert data["test"].shape == (cfg.test_crops, 1, cfg.crop, cfg.crop)
    assert sorted(set(data["test_image"].tolist())) == list(range(len(deblur.TEST_IMAGES)))
    counts = np.bincount(data["validation_image"].numpy())
    assert counts.max() - counts.min() <= 1 and len(counts) == len(deblur.VALIDATION_IMAGES)
    sigma = data["validation_sigma"].numpy()
    assert 0 < sigma.min() and sigma.max() < cfg.pretrain_sigma_max
    noise = (data["validation_noisy"] - data["validation"]).flatten(1).std(dim=1).numpy()
    np.testing.assert_allclose(noise, sigma, rtol=0.5)  # the noise has the recorded levels
    blur = deblur.make_blur(cfg)
    residual = data["test_observed"] - blur.forward(data["test"])
    assert abs(float(residual.std()) - cfg.noise) < 0.25 * cfg.noise


def test_tikhonov_is_chosen_on_validation():
    cfg = deblur.config("smoke")
    scores = deblur.tikhonov_scores(cfg)
    assert tuple(scores) == cfg.tikhonov_grid
    lam = deblur.choose_tikhonov(cfg)
    assert scores[lam] == max(scores.values())
    data, blur = deblur.make_data(cfg), deblur.make_blur(cfg)
    direct = psnr(blur.tikhonov(data["validation_observed"], lam), data["validation"]).mean()
    assert np.isclose(float(direct), scores[lam])
    assert deblur.build_model(cfg, "explicit-x1").lam == lam
    assert deblur.build_model(cfg, "explicit-x4", lam=0.3).lam == 0.3


def test_config_rejects_bad_settings():
    cfg = deblur.config("smoke")
    with pytest.raises(ValueError, match="seeds_wide"):
        dataclasses.replace(cfg, seeds=(0, 1), seeds_wide=3)
    with pytest.raises(ValueError, match="distinct"):
        dataclasses.replace(cfg, seeds=(0, 0))
    with pytest.raises(ValueError, match="tikhonov_grid"):
        dataclasses.replace(cfg, tikhonov_grid=(0.1, -1.0))
    with pytest.raises(ValueError, match="validate_every"):
        dataclasses.replace(cfg, validate_every=0)
    wide = dataclasses.replace(cfg, seeds=(3, 5, 7), seeds_wide=2)
    assert wide.seeds_for(1) == (3, 5, 7) and wide.seeds_for(16) == (3, 5)
    for profile in ("smoke", "cpu", "gpu"):
        other = deblur.config(profile)
        assert len(other.seeds) >= 1 and other.seeds_for(16)
    assert len(deblur.config("gpu").seeds_for(16)) >= 3  # the gpu profile runs 3 seeds of all


def test_lipschitz_measurement_of_a_linear_operator():
    """For G(y, x) = y − γAᵀ(Ay − x) (H = identity), y_t is linear in x with a known slope."""

    class Identity(Denoiser):
        def forward(self, y, sigma):
            return y + 0 * self.tail.weight.sum()

    blur = BlurOperator(gaussian_kernel(3, 0.8), (8, 8))
    operator = ImplicitPGD(Identity(1, 2, 2), blur, gamma=0.5)
    x = torch.rand(2, 1, 8, 8)
    ratios = deblur.lipschitz_against_iterations(operator, blur, x, (0.1, 0.9), 5)
    gamma = operator.gamma.item()
    for i, rank in enumerate((0.1, 0.9)):
        _, s = blur.singular_vector(rank)
        # along v: y_t = (1 − (1 − γs²)^t) / s² · (Aᵀδ)·v, and ‖δ‖ = ε s: slope (1 − (1−γs²)^t)/s
        want = [(1 - (1 - gamma * s * s) ** t) / s for t in range(1, 6)]
        torch.testing.assert_close(ratios[i, 0], torch.tensor(want, dtype=torch.float64))


def test_multiply_adds_of_the_denoiser():
    # by hand for 2 channels, 2 scales, 4 × 4 pixels: head 2→2 (3×3) on 16 pixels: 576; a
    # residual block 2→2: 1152; down 2→4 (2×2, stride 2) on 4 pixels: 128; body block 4→4 on 4
    # pixels: 1152; up 4→2 (transposed, 2×2) from 4 pixels: 128; block 2→2: 1152; tail 2→1: 288
    assert deblur.denoiser_multiply_adds(Denoiser(1, 2, scales=2, blocks=1), 4) == 4576
    small, wide = Denoiser(1, 4, 3, 1), Denoiser(1, 8, 3, 1)
    ratio = deblur.denoiser_multiply_adds(wide, 16) / deblur.denoiser_multiply_adds(small, 16)
    assert 3 < ratio < 4.1  # doubling the width: about four times the work
    cfg = deblur.config("smoke")
    longer = dataclasses.replace(cfg, pretrain_steps=2 * cfg.pretrain_steps)
    assert deblur.training_multiply_adds(longer) > deblur.training_multiply_adds(cfg) > 0
    with pytest.raises(TypeError, match="Denoiser"):
        deblur.denoiser_multiply_adds(torch.nn.Identity(), 4)


def test_paired_differences_blocked_by_image():
    from scipy import stats

    images = np.array([0, 0, 1, 1, 1, 2])
    values = np.array([1.0, 3.0, 2.0, 2.0, 5.0, 4.0])  # per-image means 2, 3, 4
    np.testing.assert_allclose(deblur.per_image_means(values, images), [2.0, 3.0, 4.0])
    # two seeds are averaged first, then blocked
    np.testing.assert_allclose(
        deblur.per_image_means(np.stack([values, values + 2]), images), [3.0, 4.0, 5.0]
    )
    mean, half, n = deblur.image_blocked_interval(values, images)
    assert (mean, n) == (3.0, 3)
    assert np.isclose(half, stats.t.ppf(0.975, 2) * 1.0 / np.sqrt(3))
    with pytest.raises(ValueError, match="match"):
        deblur.per_image_means(values[:5], images)
    with pytest.raises(ValueError, match="at least one crop"):
        deblur.per_image_means(values, np.array([0, 0, 2, 2, 2, 3]))


def test_explicit_lipschitz_of_the_tikhonov_model():
    """With H = identity the explicit model is the Tikhonov estimate: slope s/(s² + λ) along v_f."""

    class Identity(Denoiser):
        def forward(self, y, sigma):
            return y + 0 * self.tail.weight.sum()

    blur = BlurOperator(gaussian_kernel(3, 0.8), (8, 8))
    model = deblur.ExplicitDeblur(Identity(1, 2, 2), blur, lam=0.05)
    ratios = deblur.explicit_lipschitz(model, blur, torch.rand(3, 1, 8, 8), (0.2, 0.8))
    for i, rank in enumerate((0.2, 0.8)):
        _, s = blur.singular_vector(rank)
        torch.testing.assert_close(
            ratios[i], torch.full((3,), s / (s * s + 0.05), dtype=torch.float64)
        )


def test_train_models_in_workers_matches_serial(monkeypatch):
    """Smoke-scale training in two spawned worker processes gives the serial result."""
    monkeypatch.setenv("IMPLICIT_EDU_CACHE", "off")
    cfg = deblur.config("smoke")
    names = ("hqs", "explicit-x4")
    parallel = deblur.train_models(cfg, names, workers=2, progress=False)
    serial = deblur.train_models(cfg, names, workers=1, progress=False)
    assert set(parallel.models) == {(name, 0) for name in names}
    assert set(parallel.denoisers) == {(1, 0), (4, 0)}
    for key in parallel.models:
        assert np.isfinite(parallel.models[key]["history"]["loss"]).all()
        for name, value in serial.models[key]["model"].items():
            torch.testing.assert_close(
                parallel.models[key]["model"][name], value, rtol=1e-4, atol=1e-5
            )
    with pytest.raises(ValueError, match="workers"):
        deblur.train_models(cfg, names, workers=0)
    with pytest.raises(ValueError, match="unknown model"):
        deblur.train_models(cfg, ("explicit-x9",))


@pytest.fixture(scope="module")
def trained():
    """Every model of the smoke profile for seeds 0 and 1, trained once (no cache)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IMPLICIT_EDU_CACHE", "off")
        cfg = deblur.config("smoke")
        return cfg, deblur.train_models(cfg, progress=False, seeds=(0, 1))


def test_every_width_is_pretrained_with_the_same_budget(trained):
    cfg, result = trained
    assert set(result.denoisers) == {(m, s) for m in cfg.explicit_multipliers for s in (0, 1)}
    for (multiplier, _), run in result.denoisers.items():
        assert len(run["loss"]) == cfg.pretrain_steps
        width = cfg.width * round(multiplier**0.5)
        assert run["model"]["head.weight"].shape[0] == width
    # different seeds give different initial weights and batches
    first, second = result.denoisers[1, 0]["model"], result.denoisers[1, 1]["model"]
    assert not torch.equal(first["head.weight"], second["head.weight"])


def test_early_stopping_keeps_the_best_validation_weights(trained):
    """The kept weights are those of the lowest validation loss, for every kind of model."""
    from implicit_edu.experiments.deblur.train import _deblurring_loss, _denoising_loss

    cfg, result = trained
    data = deblur.make_data(cfg)
    device = torch.device("cpu")
    for (name, seed), run in result.models.items():
        history = run["history"]
        budget = cfg.implicit_steps if name in ("pgd", "hqs") else cfg.explicit_steps
        assert history["val_steps"][-1] == budget and len(history["loss"]) == budget
        every = cfg.validate_every
        assert history["val_steps"] == sorted({*range(every, budget + 1, every), budget})
        best = int(np.argmin(history["val_loss"]))
        assert run["best_step"] == history["val_steps"][best]
        model = deblur.build_model(cfg, name, lam=result.lam)
        model.load_state_dict(run["model"])
        layer = deblur.make_deq(cfg, model) if name in ("pgd", "hqs") else model
        again = _deblurring_loss(layer, data["validation_observed"], data["validation"], device)
        assert np.isclose(again, history["val_loss"][best], rtol=1e-4), (name, seed)
        if name.startswith("explicit"):
            assert run["lam"] == result.lam == deblur.choose_tikhonov(cfg)
    for (multiplier, seed), run in result.denoisers.items():
        every, budget = cfg.validate_every, cfg.pretrain_steps
        assert run["val_steps"] == sorted({*range(every, budget + 1, every), budget})
        best = int(np.argmin(run["val_loss"]))
        assert run["best_step"] == run["val_steps"][best]
        denoiser = deblur.build_denoiser(cfg, multiplier)
        denoiser.load_state_dict(run["model"])
        again = _denoising_loss(
            denoiser, data["validation_noisy"], data["validation_sigma"], data["validation"], device
        )
        assert np.isclose(again, run["val_loss"][best], rtol=1e-4), (multiplier, seed)


def test_forward_and_backward_solves_are_recorded(trained):
    cfg, result = trained
    for name in ("pgd", "hqs"):
        for seed in (0, 1):
            history = result.models[name, seed]["history"]
            for part, tol, limit in (
                ("forward", cfg.forward_tol, cfg.forward_max_iter),
                ("backward", cfg.backward_tol, cfg.backward_max_iter),
            ):
                converged = np.asarray(history[f"{part}_converged"], dtype=bool)
                residual = np.asarray(history[f"{part}_residual"])
                iterations = np.asarray(history[f"{part}_iterations"])
                assert len(converged) == len(residual) == len(iterations) == cfg.implicit_steps
                assert np.all(np.isfinite(residual)) and np.all(residual > 0)
                assert np.all(residual[converged] <= tol)  # converged means: met the tolerance
                assert np.all(iterations[~converged] == limit)  # otherwise: ran to the limit
    assert "forward_converged" not in result.models["explicit-x1", 0]["history"]


@pytest.mark.parametrize("name", ["hqs", "explicit-x1"])
def test_the_weights_of_the_lowest_validation_loss_are_kept(monkeypatch, name):
    """Validation losses 3, 1, 2, 4 at the four checks: the weights of the second are kept."""
    from implicit_edu.experiments.deblur import train

    monkeypatch.setenv("IMPLICIT_EDU_CACHE", "off")
    cfg = deblur.config("smoke")
    fake, seen = iter([3.0, 1.0, 2.0, 4.0]), []

    def loss(layer, *args):
        model = layer.g if hasattr(layer, "g") else layer
        seen.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return next(fake)

    monkeypatch.setattr(train, "_deblurring_loss", loss)
    monkeypatch.setattr(train, "_denoising_loss", lambda *args: next(iter([1.0])))
    budget = cfg.implicit_steps if name == "hqs" else cfg.explicit_steps
    cfg = dataclasses.replace(cfg, validate_every=budget // 4)
    denoiser = train._pretrain(cfg, 1, 0, torch.device("cpu"), False)["model"]
    result = train._train_steps(cfg, name, 0, denoiser, lam=0.05)
    assert result["history"]["val_loss"] == [3.0, 1.0, 2.0, 4.0]
    assert result["best_step"] == 2 * budget // 4
    for key, value in result["model"].items():
        torch.testing.assert_close(value, seen[1][key])
    assert any(not torch.equal(value, seen[3][key]) for key, value in result["model"].items())


def test_training_without_a_finite_validation_loss_fails_clearly(monkeypatch):
    from implicit_edu.experiments.deblur import train

    monkeypatch.setenv("IMPLICIT_EDU_CACHE", "off")
    cfg = deblur.config("smoke")
    monkeypatch.setattr(train, "_deblurring_loss", lambda *args: float("nan"))
    with pytest.raises(RuntimeError, match="no validation loss was finite"):
        train._train_steps(cfg, "explicit-x1", 0, None, lam=0.05)
    monkeypatch.setattr(train, "_denoising_loss", lambda *args: float("inf"))
    with pytest.raises(RuntimeError, match="pretraining H ×4"):
        train._pretrain(cfg, 4, 0, torch.device("cpu"), False)
    assert train._is_best([2.0, float("nan"), 1.0]) and not train._is_best([1.0, float("nan")])
