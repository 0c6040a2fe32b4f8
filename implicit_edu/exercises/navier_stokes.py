"""Checks for the exercises of the chapter "Steady Navier–Stokes" (Part IV)."""

from __future__ import annotations

from implicit_edu.exercises._common import check_value, correct, require_callable, require_number

#: (amplitude A, wavenumber k, viscosity ν, drag α) at which the answers are tested.
_KOLMOGOROV_CASES = ((1.0, 4, 0.05, 0.1), (0.3, 1, 0.01, 0.0), (2.0, 3, 0.2, 0.5))


def check_kolmogorov_amplitude(amplitude) -> bool:
    """Exercise: ``amplitude(A, k, nu, drag)``, the steady vorticity amplitude of the laminar
    Kolmogorov flow forced by φ = A sin(k y)."""
    amplitude = require_callable(amplitude, "amplitude(A, k, nu, drag)")
    for A, k, nu, drag in _KOLMOGOROV_CASES:
        got = require_number(amplitude(A, k, nu, drag), f"amplitude({A}, {k}, {nu}, {drag})")
        check_value(
            got,
            A / (nu * k**2 + drag),
            prefix=f"amplitude({A}, {k}, {nu}, {drag}) = {got:.6g} is not right: ",
            known_wrong=[
                (A / (nu * k**2) if drag else None, "the drag −αω also balances the forcing."),
                (A / (nu * k + drag), "Δ sin(ky) = −k² sin(ky): the wavenumber enters squared."),
                (A * (nu * k**2 + drag), "ω = φ / (νk² + α): divide by the damping rate."),
                (A / (nu + drag), "the viscous term is νk² ω for a mode of wavenumber k."),
                (-A / (nu * k**2 + drag), "check the sign: −νΔω = +νk² ω for ω ∝ sin(ky)."),
            ],
            otherwise="insert ω = a sin(ky) into u·∇ω = νΔω − αω + φ; for a flow along x that "
            "depends on y only, u·∇ω = 0.",
        )
    return correct("the laminar Kolmogorov flow")


def check_explicit_count(count) -> bool:
    """Exercise: ``count(width, modes, layers)``, the parameters of ``ExplicitFNO``."""
    from implicit_edu.core.parameters import parameter_count
    from implicit_edu.experiments.navier_stokes.models import ExplicitFNO

    count = require_callable(count, "explicit_count(width, modes, layers)")
    for width, modes, layers in ((4, 2, 1), (17, 8, 4), (6, 3, 2), (34, 8, 4)):
        got = require_number(count(width, modes, layers), f"explicit_count({width}, ...)")
        want = parameter_count(ExplicitFNO(width=width, modes=modes, layers=layers))
        C, m, L = width, modes, layers
        check_value(
            got,
            want,
            rtol=0,
            prefix=f"explicit_count({width}, {modes}, {layers}) = {got:g} is not right: ",
            known_wrong={
                want - L * 2 * m * m * C * C: "the spectral weights of a layer are 2 corners "
                "(k_y ≥ 0 and k_y < 0) × m² modes × C² complex entries × 2 real numbers each: "
                "one factor 2 is missing.",
                want - L * 3 * m * m * C * C: "count the spectral weights as real numbers: each "
                "complex entry is two of them, and rfft2 keeps two corners of m × m modes.",
                want - L * C: "the 1 × 1 convolution W of every layer has a bias.",
                want - L * (C * C + C): "every layer also has its 1 × 1 convolution W (C² + C).",
                want - 2 * C: "the lift P: 1 → C is a 1 × 1 convolution with a bias (2C).",
                want - (2 * C * C + 2 * C) - (2 * C + 1): "add the projection Q: C → 2C → 1.",
            },
            otherwise="add the lift (1 → C), the layers (spectral weights 4 m² C², W with "
            "C² + C) and the projection (C → 2C → 1), every 1 × 1 convolution with a bias.",
        )
    return correct("the parameter count of the explicit FNO")


def check_stokes_lipschitz(lipschitz) -> bool:
    """Exercise: ``lipschitz(nu, drag, k_min, k_max)``, the Lipschitz constant of the Stokes map
    φ ↦ ω on forcings whose modes lie in the band k_min ≤ ‖k‖ ≤ k_max."""
    lipschitz = require_callable(lipschitz, "stokes_lipschitz(nu, drag, k_min, k_max)")
    for nu, drag, k_min, k_max in ((0.05, 0.1, 2, 4), (0.01, 0.0, 1, 3), (0.2, 0.3, 3, 5)):
        got = require_number(lipschitz(nu, drag, k_min, k_max), "stokes_lipschitz(...)")
        check_value(
            got,
            1 / (nu * k_min**2 + drag),
            prefix=f"stokes_lipschitz({nu}, {drag}, {k_min}, {k_max}) = {got:.6g} is not right: ",
            known_wrong=[
                (
                    1 / (nu * k_max**2 + drag),
                    "that is the smallest gain in the band: the map is steepest where the "
                    "damping νk² + α is weakest.",
                ),
                (1 / (nu * k_min**2), "the drag α damps every mode too."),
                (1 / (nu * k_min + drag), "the Laplacian multiplies a mode by −|k|²."),
                (nu * k_min**2 + drag, "ω̂ = φ̂ / (ν|k|² + α): the gain is the reciprocal."),
            ],
            otherwise="the Stokes map is diagonal in Fourier space; its norm is its largest "
            "diagonal entry.",
        )
    return correct("the Lipschitz constant of the Stokes map")
