"""A forward call of an element-wise loss computes two sibling blocks of the
pairwise cascade at once (the core's ``lf_pairwise_pairs``: one loss loop
over both, their sums side by side); a call with gradients computes one block
a call.  Both must give the same bits: the forward call's loss is the loss of
``forward_backward``, for every element-wise row, option, reduction and
length (rows of 129 to 5,000 elements: pairs of whole blocks, pairs with a
short block, odd tails)."""
import numpy as np
import pytest
from loss_table import CORE_ROWS, DTYPES, LOSSES, valid_inputs, valid_options

ROWS = [r for r in LOSSES if CORE_ROWS[r.fname]["dask"]["split"] == "elementwise"]


def _shapes(row):
    if len(row.shape) == 1:
        return [(129,), (256,), (1000,), (1001,), (5000,)]
    return [(3, 129), (2, 256), (5, 1000), (2, 1001)]


def test_the_element_wise_rows_are_found():
    assert len(ROWS) >= 12, [r.fname for r in ROWS]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("row", ROWS, ids=str)
def test_forward_is_forward_backward_bit_for_bit(row, dtype, reduction):
    for shape in _shapes(row):
        args = valid_inputs(row, dtype, shape=shape)
        opts = valid_options(row, dtype, shape=shape)
        crit = row.cls(reduction=reduction, **opts)
        got = np.asarray(crit(*args))
        want = np.asarray(crit.forward_backward(*args)[0])
        assert got.dtype == want.dtype and got.shape == want.shape, shape
        assert got.tobytes() == want.tobytes(), (shape, got, want)
