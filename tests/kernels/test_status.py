"""``_kernels.status``: the codes are distinct, OK is 0, and they fall in the
two groups the Python layer tells apart by one comparison
(``_engine.Engine._step_failed``: ``done >= BAD_INPUT`` is refused input,
anything else but OK is divergence, which ``_engine._REASONS`` words)."""
from fastbp import _engine
from fastbp._kernels import status

CODES = {name: value for name, value in vars(status).items() if name.isupper()}
DIVERGENCE = {status.BAD_LOSS, status.BAD_GRADIENT, status.BAD_STEP}
INPUT = {status.BAD_INPUT, status.BAD_TARGET, status.BAD_LABEL, status.BAD_SHAPE,
         status.BAD_LAYOUT}


def test_codes_are_distinct_ints_and_ok_is_zero():
    assert status.OK == 0
    assert all(type(value) is int for value in CODES.values())
    assert len(set(CODES.values())) == len(CODES) == 9


def test_input_codes_come_after_the_divergence_codes():
    assert set(CODES.values()) == {status.OK} | DIVERGENCE | INPUT
    assert status.OK < min(DIVERGENCE) and max(DIVERGENCE) < status.BAD_INPUT == min(INPUT)
    assert set(_engine._REASONS) == DIVERGENCE
