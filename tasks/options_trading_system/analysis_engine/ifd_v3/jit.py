"""How the IFD v3.0 kernels are compiled.

`kernel` = numba njit, cached on disk, with numba's reference-counting runtime (NRT) off. The
kernels allocate nothing; they only read and write arrays they are given. With NRT on, every call
that passes arrays (or tuples of arrays) pays atomic reference counting per array, which measured
at 60-80% of the time per MBO event; with it off the same calls cost nothing. Functions that
allocate (table growth) use plain `nb.njit`.
"""
from __future__ import annotations

import numba as nb

kernel = nb.njit(cache=True, _nrt=False)
kernel_inline = nb.njit(cache=True, _nrt=False, inline="always")
