"""Numbers reported by the paper, kept in one place so chapters can set them beside ours.

Source: J. Liu, L. Ding, S. Osher, W. Yin, "Implicit Models: Expressive Power Scales with
Test-Time Compute" (arXiv 2510.03638; ICLR 2026 as "Expressive Power of Implicit Models: Rich
Equilibria and Test-Time Scaling"), and the talk on the same paper. These are the paper's
measurements, cited in the book as ``{cite:p}`liu2025implicit```; nothing here is computed by us.
"""

from __future__ import annotations

CITATION_KEY = "liu2025implicit"

#: The talk's table "explicit against implicit for image deblurring" (DRUNet prior, CBSD500).
#: ``None`` marks the run that did not fit in GPU memory ("O/M").
DEBLUR_SCALING = [
    {"model": "Explicit ×1", "params_millions": 32.641, "psnr_db": 26.94},
    {"model": "Explicit ×4", "params_millions": 130.56, "psnr_db": 28.35},
    {"model": "Explicit ×16", "params_millions": 522.26, "psnr_db": 28.87},
    {"model": "Explicit ×32", "params_millions": 1044.5, "psnr_db": None},
    {"model": "Implicit", "params_millions": 32.641, "psnr_db": 29.18},
]

#: Test PSNR (mean, std in dB) of the paper's Figure 3.
DEBLUR_PSNR = {
    "explicit": (26.97, 3.54),
    "implicit_pgd": (28.20, 3.70),
    "implicit_hqs": (29.18, 3.66),
}

#: Empirical Lipschitz constants of the deblurring operators (Figure 3 and the talk); L_1 of the
#: first step from y₀ = 0, and the level at which L_t levels off.
DEBLUR_LIPSCHITZ = {"pgd_first": 0.14, "hqs_first": 0.44, "plateau": 5.0}

#: Table 1 of the paper, explicit against implicit GNNs on linear programs (test error mean, std).
LP_TABLE = {
    "embedding": [4, 8, 16, 32],
    "explicit_params": [580, 2088, 7888, 30624],
    "implicit_params": [722, 2350, 8390, 31606],
    "explicit_train": [(0.387, 0.103), (0.233, 0.084), (0.183, 0.070), (0.112, 0.049)],
    "explicit_test": [(0.397, 0.107), (0.273, 0.104), (0.283, 0.111), (0.318, 0.122)],
    "implicit_train": [(0.203, 0.107), (0.162, 0.094), (0.131, 0.080), (0.118, 0.073)],
    "implicit_test": [(0.218, 0.117), (0.177, 0.105), (0.152, 0.098), (0.156, 0.109)],
}

#: Test error of the implicit GNN over its iterations (mean, std over test instances), reported
#: beside Table 1.
LP_ITERATION_ERROR = (0.146, 0.091)

#: Steady Navier–Stokes (FNO-DEQ against FNO, both 2.376 M parameters), relative test error.
NAVIER_STOKES = {
    "explicit_error": 0.179,
    "implicit_error": (0.078, 0.028),
    "implicit_error_t1": 1.1,  # "about 1.1" after one Anderson step, read off the paper's figure
    "lipschitz_t1": 23.1,
    "lipschitz_t50": 367.0,
    "params_millions": 2.376,
}
