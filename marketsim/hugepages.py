"""Memory pages for runs: the buffers a run fills over its whole length (the per-firm records) on
transparent huge pages where the operating system offers them, and numpy's own huge-page advice off.

Why: a buffer allocated for the whole run is mapped by the kernel page by page as the steps first
write into it: with 4 KiB pages, one page fault (and a page zeroed) every 4 KiB. At 10,000 firms the
per-firm records write ~1.4 MB a step, ~350 faults, at several microseconds each on a virtual
machine. A mapping advised ``MADV_HUGEPAGE`` is served in 2 MiB pages (Linux's transparent huge
pages, in its ``madvise`` or ``always`` mode): 512 times fewer faults, the same bytes zeroed.
Measured here (AMD EPYC virtual machine, 2026-12-02), writing 120 steps of a (17, 10,000) float
block into a fresh buffer, CPU per step: ``np.empty`` 2.75, 11.97 and 1.02 ms in three processes,
huge pages 0.23, 0.25 and 0.24 ms; memory already touched, 0.13 ms. In whole 10,000-firm runs the
difference is there (recording 0.67 -> 0.33 s of CPU in one pair of runs) but within the noise of the
kernel's time while other jobs ran (0.4-3.6 s of system time between identical runs).
numpy advises huge pages for its own large allocations too (``madvise`` after ``malloc``, seen with
strace), yet its buffers filled as slowly and as unevenly as above, so the mapping is made here.

Only the memory changes: the arrays are ordinary writable numpy arrays, and below ``MIN_BYTES``,
for object dtypes, or where ``mmap`` cannot advise huge pages (macOS, Windows), plain ``np.empty``.
"""

from __future__ import annotations

import mmap
import os

import numpy as np

HUGE_PAGE_BYTES = 2 * 1024 * 1024  # x86-64's and arm64's transparent huge page
MIN_BYTES = HUGE_PAGE_BYTES  # a smaller buffer would not fill one huge page: ordinary pages cost less
_ADVICE = getattr(mmap, "MADV_HUGEPAGE", None)
_ANONYMOUS = getattr(mmap, "MAP_ANONYMOUS", None)


def empty(shape, dtype=np.float64) -> np.ndarray:
    """``np.empty(shape, dtype)`` (contents undefined, C order), backed by an anonymous private
    mapping advised ``MADV_HUGEPAGE`` when it is at least ``MIN_BYTES`` and the platform has the
    advice. The mapping is freed with the last array that views it."""
    dtype = np.dtype(dtype)
    dims = (int(shape),) if np.isscalar(shape) else tuple(int(n) for n in shape)
    count = int(np.prod(dims, dtype=np.int64))
    nbytes = count * dtype.itemsize
    if nbytes < MIN_BYTES or dtype.hasobject or _ADVICE is None or _ANONYMOUS is None:
        return np.empty(dims, dtype)
    try:
        memory = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | _ANONYMOUS)
    except (OSError, ValueError):  # no address space for it: numpy's allocator decides what to say
        return np.empty(dims, dtype)
    try:
        memory.madvise(_ADVICE)
    except OSError:  # a kernel without transparent huge pages: ordinary pages, still correct
        pass
    return np.frombuffer(memory, dtype, count).reshape(dims)



def numpy_advice_off() -> bool:
    """Turn numpy's own huge-page advice off for this process, unless the user has chosen
    (``NUMPY_MADVISE_HUGEPAGE`` set in the environment, which numpy reads at import). Returns
    whether it was turned off.

    Why: numpy advises ``MADV_HUGEPAGE`` on each array of 4 MiB or more it allocates. In a run only
    ~50 arrays are that large (at 10,000 firms), but the advice lands on the C heap, where the
    step's many smaller temporaries are then served, freed, trimmed and faulted in again, now a
    2 MiB page zeroed at a time. Measured here (AMD EPYC virtual machine, 2026-12-02; whole
    ``marketsim run baseline --firms 10000`` processes, five pairs run in turn): with the advice
    off by ``NUMPY_MADVISE_HUGEPAGE=0``, CPU 0.85x and 0.90x in two sets (system time 3.8 -> 2.0 s and
    3.9 -> 2.6 s); off by this function, 0.70x against ``=1`` (system time 4.5 -> 1.6 s); at 1,000 and
    200 firms no difference (1.05x and 1.00x, within the noise). glibc's trim and mmap thresholds
    raised by environment made it worse (1.22x). Only speed changes, never a number."""
    if "NUMPY_MADVISE_HUGEPAGE" in os.environ:
        return False
    try:
        from numpy._core.multiarray import _set_madvise_hugepage
    except ImportError:  # a numpy without the switch: nothing to turn off
        return False
    _set_madvise_hugepage(False)
    return True
