"""The exercise checks of Part II, "Sufficiency" and "Necessity": each accepts the reference
answer and rejects typical wrong ones."""

import math

import pytest
import torch

from implicit_edu.exercises import necessity, sufficiency

# --- chapter "Sufficiency" -------------------------------------------------------------------


def _inverse_rho(x):
    """The adaptive radius ρ of F = 1/x in closed form (the chapter derives it), written as
    2x²/(2x + 1 + √(4x + 1)) to avoid cancellation near 0."""
    small = 2 * x**2 / (2 * x + 1 + torch.sqrt(4 * x + 1))
    return torch.where(x <= 2, small, torch.ones_like(x))


@pytest.mark.parametrize(
    "eps",
    [
        lambda x: 0.5 * torch.clamp(x, max=1) ** 2,  # the reference answer
        lambda x: 0.5 * torch.clamp(x, max=1),  # ε ~ x suffices for the simple pole of 1/x
        lambda x: 0.5 * x**2 / (1 + x**2),
        lambda x: 0.5 * _inverse_rho(x) ** 2,  # the adaptive step of the chapter's lemma
    ],
)
def test_step_for_inverse_accepts_regular_steps(eps):
    assert sufficiency.check_step_for_inverse(eps)


def test_step_for_inverse_rejects_wrong_steps():
    with pytest.raises(AssertionError, match=r"ε·F = ε\(x\)/x is not globally Lipschitz"):
        sufficiency.check_step_for_inverse(lambda x: torch.full_like(x, 0.5))
    with pytest.raises(AssertionError, match="ε itself is not globally Lipschitz"):
        sufficiency.check_step_for_inverse(lambda x: 0.5 * torch.clamp(x, max=1).sqrt())
    with pytest.raises(AssertionError, match="strictly between 0 and 1"):
        sufficiency.check_step_for_inverse(lambda x: 0.5 * x**2)  # not capped
    with pytest.raises(AssertionError, match="strictly between 0 and 1"):
        sufficiency.check_step_for_inverse(lambda x: torch.zeros_like(x))
    with pytest.raises(AssertionError, match="one value per input"):
        sufficiency.check_step_for_inverse(lambda x: torch.tensor(0.5))
    with pytest.raises(AssertionError, match="raised"):
        sufficiency.check_step_for_inverse(lambda x: math.sqrt(x))
    with pytest.raises(AssertionError, match="returned None"):
        sufficiency.check_step_for_inverse(lambda x: None)
    with pytest.raises(AssertionError, match="replace the `...`"):
        sufficiency.check_step_for_inverse(...)


def test_iterations_check():
    step = 0.05**2 * 0.95**2  # ε(0.05) in the talk's example
    want = math.ceil(math.log(1e-3) / math.log(1 - step))
    assert sufficiency.talk_iterations() == want
    assert sufficiency.check_iterations(want)
    with pytest.raises(AssertionError, match="one short"):
        sufficiency.check_iterations(want - 1)
    with pytest.raises(AssertionError, match="approximation"):
        sufficiency.check_iterations(math.ceil(math.log(1e3) / step))
    with pytest.raises(AssertionError, match="whole number"):
        sufficiency.check_iterations(want - 0.5)
    with pytest.raises(AssertionError, match="not the least"):
        sufficiency.check_iterations(want + 100)


def test_smallest_power_check():
    assert sufficiency.check_smallest_power(3)
    with pytest.raises(AssertionError, match="slope"):
        sufficiency.check_smallest_power(2)
    with pytest.raises(AssertionError, match="too small"):
        sufficiency.check_smallest_power(1)
    with pytest.raises(AssertionError, match="not the smallest"):
        sufficiency.check_smallest_power(4)
    with pytest.raises(AssertionError, match="whole number"):
        sufficiency.check_smallest_power(2.5)


def test_inversion_constants_check():
    assert sufficiency.check_inversion_constants(0.5, 1.0)
    with pytest.raises(AssertionError, match="swapped"):
        sufficiency.check_inversion_constants(1.0, 0.5)
    with pytest.raises(AssertionError, match="general bounds"):
        sufficiency.check_inversion_constants(1.5, 1.0)
    with pytest.raises(AssertionError, match="a = Lip"):
        sufficiency.check_inversion_constants(1.0, 1.0)
    with pytest.raises(AssertionError, match="b = Lip"):
        sufficiency.check_inversion_constants(0.5, 0.5)


# --- chapter "Necessity" ---------------------------------------------------------------------


def test_bound_check():
    assert necessity.check_bound(0.8 * 2 / (1 - 0.8 * 0.5))
    with pytest.raises(AssertionError, match="L_x alone"):
        necessity.check_bound(1.6)
    with pytest.raises(AssertionError, match="prefactor 0.8 as the contraction factor"):
        necessity.check_bound(1.6 / (1 - 0.8))
    with pytest.raises(AssertionError, match="4 is not right"):
        necessity.check_bound(1.6 / 0.4)
    with pytest.raises(AssertionError, match="not right"):
        necessity.check_bound(2 / (1 - 0.4))


def _reference_answers():
    return {
        "inverse": True,
        "sign": False,
        "sign_punctured": True,
        "sqrt_abs": False,
        "sqrt_positive": True,
        "abs": True,
        "x_sin": False,
        "x2_sin": True,
        "tan": True,
        "floor": True,
    }


def test_representable_check():
    assert necessity.check_representable(_reference_answers())
    assert set(_reference_answers()) == set(necessity.TARGETS)
    # "continuous is enough" and "unbounded is never enough": two typical misconceptions
    wrong = _reference_answers() | {"sqrt_abs": True, "x_sin": True}
    with pytest.raises(AssertionError, match="2 of 10 answers are wrong"):
        necessity.check_representable(wrong)
    with pytest.raises(AssertionError, match="inverse"):
        necessity.check_representable(_reference_answers() | {"inverse": False})
    with pytest.raises(AssertionError, match="floor"):
        necessity.check_representable(_reference_answers() | {"floor": False})
    with pytest.raises(AssertionError, match="missing"):
        necessity.check_representable({"sign": False})
    with pytest.raises(AssertionError, match="unknown"):
        necessity.check_representable(_reference_answers() | {"cos": True})
    with pytest.raises(AssertionError, match="True or False"):
        necessity.check_representable(_reference_answers() | {"sign": "no"})
    with pytest.raises(AssertionError, match="dict"):
        necessity.check_representable([True] * 10)
    with pytest.raises(AssertionError, match="replace the `...`"):
        necessity.check_representable(...)


def test_smallest_mu_check():
    want = 1 - 1.0 * 0.01 / (1 - 0.1)
    assert necessity.smallest_contraction() == pytest.approx(want)
    assert necessity.check_smallest_mu(want)
    with pytest.raises(AssertionError, match="1 − L h makes"):
        necessity.check_smallest_mu(0.99)
    with pytest.raises(AssertionError, match="wrong side"):
        necessity.check_smallest_mu(1 - 0.01 * 0.9)
    with pytest.raises(AssertionError, match="not right"):
        necessity.check_smallest_mu(0.9)
    with pytest.raises(AssertionError, match="contraction factor"):
        necessity.check_smallest_mu(1.5)
