"""``hugepages.empty`` stands in for ``np.empty`` for run-long buffers: same shape, dtype and
order, writable, values kept, pickled by value; large buffers come from an anonymous mapping where
the platform can advise huge pages, small ones and object arrays from numpy."""

from __future__ import annotations

import mmap
import pickle

import numpy as np
import pandas as pd
import pytest

from marketsim import hugepages
from marketsim.records import FirmRecorder


def _mapping(array: np.ndarray):
    """The object at the bottom of an array's chain of bases (None for an array owning its data)."""
    base = array.base
    while isinstance(base, (np.ndarray, memoryview)):
        base = base.base if isinstance(base, np.ndarray) else base.obj
    return base


@pytest.mark.parametrize("shape,dtype", [((3, 5), np.float64), (7, np.int64), ((17, 40_000), np.float64),
                                         (400_000, np.int64), (300_000, bool)])
def test_empty_is_a_writable_c_order_array_of_that_shape(shape, dtype):
    a = hugepages.empty(shape, dtype)
    assert a.shape == (shape if isinstance(shape, tuple) else (shape,))
    assert a.dtype == np.dtype(dtype)
    assert a.flags.c_contiguous and a.flags.writeable
    values = (np.arange(a.size) % 251).reshape(a.shape).astype(dtype)
    a[...] = values
    assert np.array_equal(a, values)
    assert np.array_equal(pickle.loads(pickle.dumps(a)), values)  # pickled by value, not by mapping


def test_large_buffers_are_mapped_small_ones_are_numpys():
    small = hugepages.empty(1000)
    assert small.base is None and small.nbytes < hugepages.MIN_BYTES
    assert hugepages.empty(10, object).dtype == object  # object arrays: numpy's (references need its allocator)
    large = hugepages.empty((17, 20_000))
    assert large.nbytes >= hugepages.MIN_BYTES
    if hasattr(mmap, "MADV_HUGEPAGE") and hasattr(mmap, "MAP_ANONYMOUS"):
        assert isinstance(_mapping(large), mmap.mmap)
    else:
        assert large.base is None


def test_a_recorder_that_outgrows_its_buffer_records_the_same_table():
    # the per-firm recorder, started with room for one row, grows (doubling, onto mapped buffers
    # once large) while a 300-firm run records: the table is the one recorded into a buffer sized
    # for the run at once
    from marketsim.model import IndustryModel

    def table(grow: bool):
        model = IndustryModel("baseline", rng=4, n_firms=300, months=36)
        if grow:
            model.firm_records = FirmRecorder(expected_rows=1)
        model.run()
        return model.firm_records.frame(), model.firm_records

    sized, _ = table(grow=False)
    grown, recorder = table(grow=True)
    assert recorder.buffer.capacity > 1024 and recorder.floats.nbytes >= hugepages.MIN_BYTES
    assert len(grown) > 300 * 30
    pd.testing.assert_frame_equal(grown, sized, check_exact=True)


def _advice_in_fresh_process(env_value: str | None) -> str:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    if env_value is not None:
        env["NUMPY_MADVISE_HUGEPAGE"] = env_value
    code = ("from numpy._core.multiarray import _get_madvise_hugepage as get; before = get(); "
            "import marketsim.model; print(before, get())")
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.split()


def test_the_model_turns_numpys_advice_off_unless_the_user_chose():
    pytest.importorskip("numpy._core.multiarray")
    _, after = _advice_in_fresh_process(None)
    assert after == "False"  # whatever numpy chose for this kernel, a run goes without it
    assert _advice_in_fresh_process("1") == ["True", "True"]  # the user's choice stands
    assert _advice_in_fresh_process("0") == ["False", "False"]
