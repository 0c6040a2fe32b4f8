"""The deblurring case study: blur operator, PSNR, operators, DEQ gradients, convergence."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio

from implicit_edu import DEQ
from implicit_edu.cases import deblur
from implicit_edu.cases.deblur import (
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
    steps = list(deblur.iterates(operator, x, 60))
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
    sizes = [deblur.parameter_count(deblur.build_denoiser(cfg, m)) for m in (1, 4, 16)]
    assert 3 < sizes[1] / sizes[0] < 5 and 12 < sizes[2] / sizes[0] < 20


def test_data_split_and_crops():
    assert not set(deblur.TRAIN_IMAGES) & set(deblur.TEST_IMAGES)
    crops = deblur.random_crops(("camera",), 5, 16, False, np.random.default_rng(0))
    assert crops.shape == (5, 1, 16, 16) and 0 <= crops.min() and crops.max() <= 1
    assert deblur.load_image("coffee", colour=True).shape[0] == 3


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


def test_widen_preserves_the_function_and_counts():
    torch.manual_seed(0)
    narrow, wide = Denoiser(1, 3, scales=2, blocks=1), Denoiser(1, 6, scales=2, blocks=1)
    deblur.widen(narrow, wide)
    x = torch.rand(2, 1, 8, 8)
    torch.testing.assert_close(wide(x, 0.1), narrow(x, 0.1))
    assert deblur.parameter_count(wide) > 3 * deblur.parameter_count(narrow)
    with pytest.raises(ValueError, match="does not fit"):
        deblur.widen(wide, Denoiser(1, 3, scales=2, blocks=1))


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
    names = ("hqs", "explicit-x1")
    parallel = deblur.train_models(cfg, names, workers=2, progress=False)
    serial = deblur.train_models(cfg, names, workers=1, progress=False)
    for name in names:
        assert np.isfinite(parallel[name]["history"]["loss"]).all()
        for key, value in serial[name]["model"].items():
            torch.testing.assert_close(parallel[name]["model"][key], value, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="workers"):
        deblur.train_models(cfg, names, workers=0)
