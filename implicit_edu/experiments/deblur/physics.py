"""The forward model of the deblurring case study: x = A y + n (chapter "Image deblurring").

A is a circular convolution with a blur kernel k, applied by the FFT: for an image y of size
H × W, A y = IFFT(K̂ · FFT(y)), where K̂ is the FFT of k zero-padded to H × W and centred on
pixel (0, 0). In the Fourier basis A is diagonal, which gives in closed form

* the adjoint      Aᵀ x = IFFT(conj(K̂) · FFT(x));
* the HQS solve    (AᵀA + βI)⁻¹ r = IFFT(FFT(r) / (abs(K̂)² + β));
* the singular values abs(K̂(ω)) and real singular vectors cos(2π ω·n / N) (Fourier modes).
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["BlurOperator", "motion_kernel", "gaussian_kernel", "psnr", "NOISE_LEVEL"]

#: Standard deviation of the Gaussian measurement noise, as in the paper (images in [0, 1]).
NOISE_LEVEL = 0.03


def _check_size(size: int) -> None:
    if not (isinstance(size, int) and size >= 1 and size % 2 == 1):
        raise ValueError(f"kernel size must be an odd integer >= 1, got {size!r}")


def gaussian_kernel(size: int = 9, std: float = 1.6) -> np.ndarray:
    """A normalised isotropic Gaussian blur kernel of shape (size, size)."""
    _check_size(size)
    if not std > 0:
        raise ValueError(f"std must be positive, got {std!r}")
    r = np.arange(size) - size // 2
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * std**2))
    return g / g.sum()


def motion_kernel(size: int = 9, seed: int = 0, steps: int = 60, smoothness: float = 0.85):
    """A generated motion-blur kernel: the normalised path of a smooth 2-D random walk.

    The camera moves with a velocity that changes slowly (an AR(1) process with coefficient
    ``smoothness``); the time it spends near each pixel is accumulated by bilinear splatting.
    Kernels of this kind resemble the measured camera-shake kernels of Levin et al. (2009).
    """
    _check_size(size)
    if not (isinstance(steps, int) and steps >= 2):
        raise ValueError(f"steps must be an integer >= 2, got {steps!r}")
    rng = np.random.default_rng(seed)
    velocity = rng.normal(size=2)
    position = np.zeros(2)
    path = [position.copy()]
    for _ in range(steps - 1):
        velocity = smoothness * velocity + math.sqrt(1 - smoothness**2) * rng.normal(size=2)
        position = position + 0.25 * velocity
        path.append(position.copy())
    path = np.array(path)
    path -= (path.max(axis=0) + path.min(axis=0)) / 2  # centre the path
    extent = np.abs(path).max()
    if extent > (size // 2) - 0.5:
        path *= ((size // 2) - 0.5) / extent  # fit into the kernel
    kernel = np.zeros((size, size))
    for row, col in path + size // 2:
        r0, c0 = int(math.floor(row)), int(math.floor(col))
        fr, fc = row - r0, col - c0
        for dr, wr in ((0, 1 - fr), (1, fr)):
            for dc, wc in ((0, 1 - fc), (1, fc)):
                if 0 <= r0 + dr < size and 0 <= c0 + dc < size:
                    kernel[r0 + dr, c0 + dc] += wr * wc
    return kernel / kernel.sum()


class BlurOperator:
    """A = circular convolution with ``kernel`` on images of ``shape`` (H, W).

    Tensors are batches of shape (B, C, H, W); the same kernel blurs every channel. The kernel
    is flipped into the convolution convention, so ``forward`` of a point source at pixel
    (0, 0) returns the kernel centred (circularly) on that pixel.
    """

    def __init__(self, kernel, shape: tuple[int, int]) -> None:
        kernel = torch.as_tensor(np.asarray(kernel, dtype=np.float64))
        if kernel.dim() != 2 or kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0:
            raise ValueError(
                f"kernel must be a 2-D array with odd sides, got shape {tuple(kernel.shape)}"
            )
        if not torch.isfinite(kernel).all():
            raise ValueError("kernel has non-finite entries")
        if len(shape) != 2 or any(not isinstance(s, int) or s < 1 for s in shape):
            raise ValueError(f"shape must be (H, W) with positive integers, got {shape!r}")
        height, width = shape
        if kernel.shape[0] > height or kernel.shape[1] > width:
            raise ValueError(
                f"kernel {tuple(kernel.shape)} is larger than the image shape {tuple(shape)}"
            )
        self.kernel = kernel
        self.shape = (height, width)
        padded = torch.zeros(height, width, dtype=torch.float64)
        kh, kw = kernel.shape
        padded[:kh, :kw] = kernel
        padded = torch.roll(padded, shifts=(-(kh // 2), -(kw // 2)), dims=(0, 1))
        self._fft = torch.fft.fft2(padded)  # K̂, complex128, shape (H, W)
        self._fft_conj = self._fft.conj().resolve_conj()
        self._copies: dict = {}

    # ------------------------------------------------------------------ application
    def _check(self, x: torch.Tensor, what: str) -> None:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{what} must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() < 2 or tuple(x.shape[-2:]) != self.shape:
            raise ValueError(
                f"{what} must end in the image shape {self.shape} (e.g. (batch, channels, H, W)), "
                f"got {tuple(x.shape)}"
            )

    def _multiplier(self, values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``values`` (K̂ or its conjugate) on x's device in x's precision, cached."""
        dtype = torch.complex128 if x.dtype == torch.float64 else torch.complex64
        key = (id(values), x.device, dtype)
        if key not in self._copies:
            self._copies[key] = values.to(device=x.device, dtype=dtype)
        return self._copies[key]

    def _apply(self, x: torch.Tensor, multiplier: torch.Tensor) -> torch.Tensor:
        return torch.fft.ifft2(torch.fft.fft2(x) * self._multiplier(multiplier, x)).real.to(x.dtype)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """A y: blur every channel of the image batch y."""
        self._check(y, "y")
        return self._apply(y, self._fft)

    __call__ = forward

    def adjoint(self, x: torch.Tensor) -> torch.Tensor:
        """Aᵀ x: correlation with the kernel (the blur by the flipped kernel)."""
        self._check(x, "x")
        return self._apply(x, self._fft_conj)

    def solve(self, r: torch.Tensor, beta) -> torch.Tensor:
        """(AᵀA + βI)⁻¹ r for β > 0 (a number or a 0-dim tensor; differentiable in β)."""
        self._check(r, "r")
        beta_t = (
            beta if isinstance(beta, torch.Tensor) else torch.tensor(float(beta), dtype=r.dtype)
        )
        if beta_t.numel() != 1 or not bool(beta_t.detach() > 0):
            raise ValueError(f"beta must be a single positive number, got {beta!r}")
        power = (self._fft.abs() ** 2).to(device=r.device, dtype=r.dtype)
        denominator = power + beta_t.to(device=r.device, dtype=r.dtype)
        spectrum = torch.fft.fft2(r) / denominator
        return torch.fft.ifft2(spectrum).real

    def tikhonov(self, x: torch.Tensor, lam: float) -> torch.Tensor:
        """The Tikhonov estimate (AᵀA + λI)⁻¹ Aᵀ x, the explicit model's first estimate."""
        return self.solve(self.adjoint(x), lam)

    # ------------------------------------------------------------------ spectrum
    def norm(self) -> float:
        """‖A‖₂ = max abs(K̂(ω)) (1 for a normalised non-negative kernel)."""
        return float(self._fft.abs().max())

    def singular_values(self) -> torch.Tensor:
        """All H·W singular values abs(K̂(ω)), sorted in decreasing order."""
        return torch.sort(self._fft.abs().flatten(), descending=True).values

    def singular_vector(self, rank: float) -> tuple[torch.Tensor, float]:
        """(v, s): a real unit right singular vector of A and its singular value.

        ``rank`` in [0, 1] is the position in the singular values sorted in decreasing order
        (0: the largest, the constant image; 1: the smallest). The vector is the Fourier mode
        v(n) ∝ cos(2π ω·n / N) of that frequency ω; AᵀA v = s² v, so ‖A v‖ = s.
        """
        if not (isinstance(rank, (int, float)) and 0 <= rank <= 1):
            raise ValueError(f"rank must be a number in [0, 1], got {rank!r}")
        magnitudes = self._fft.abs().flatten()
        order = torch.argsort(magnitudes, descending=True, stable=True)
        index = int(order[round(rank * (len(order) - 1))])
        height, width = self.shape
        k1, k2 = divmod(index, width)
        rows = torch.arange(height, dtype=torch.float64)[:, None]
        cols = torch.arange(width, dtype=torch.float64)[None, :]
        v = torch.cos(2 * math.pi * (k1 * rows / height + k2 * cols / width))
        return v / v.norm(), float(magnitudes[index])


def psnr(x, reference, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio 10 log₁₀(range² / MSE) in dB, one value per image.

    ``x`` and ``reference`` have the same shape; a batch (B, ...) gives B values, a single image
    (2-D) one value.
    """
    x, reference = torch.as_tensor(x), torch.as_tensor(reference)
    if x.shape != reference.shape:
        raise ValueError(
            f"x and reference must have the same shape, got {tuple(x.shape)} and "
            f"{tuple(reference.shape)}"
        )
    if not data_range > 0:
        raise ValueError(f"data_range must be positive, got {data_range!r}")
    x, reference = x.to(torch.float64), reference.to(torch.float64)
    if x.dim() <= 2:
        mse = ((x - reference) ** 2).mean()
    else:
        mse = ((x - reference) ** 2).flatten(1).mean(dim=1)
    return 10 * torch.log10(data_range**2 / mse)
