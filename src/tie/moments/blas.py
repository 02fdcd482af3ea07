"""BLAS updates in place on blocks of one matrix, and the OpenBLAS workarounds.

scipy's Python BLAS wrappers take whole arrays: a block of a larger matrix is copied in and
out. The streaming pass updates the lower triangle of one n x n buffer block by block, so
the routines here call BLAS through scipy's Cython BLAS (`scipy.linalg.cython_blas`, the
same library) with a leading dimension, writing straight into the buffer: no temporary of
a block's size, no `np.tril`, no second pass over it.
"""

from __future__ import annotations

import ctypes
from contextlib import nullcontext

import numpy as np
import scipy.linalg.cython_blas
from threadpoolctl import threadpool_limits

# OpenBLAS's multithreaded dsyrk crashes (segmentation fault) on matrices of order 16,000
# and more with its SkylakeX kernels, the ones it picks on AVX-512 CPUs (measured with the
# 0.3.30 in scipy's wheels and the 0.3.31 in numpy's); dpotrf (Cholesky) calls it too. Above
# this order the Gram update goes by column blocks (a syrk of at most GRAM_BLOCK for each
# diagonal block, a gemm below it: still threaded, the same flops as one syrk) and a
# Cholesky runs on one BLAS thread: only a Fisher-vector text side is that large.
THREADED_SYRK_MAX_ORDER = 15_000
GRAM_BLOCK = 2048

_get_name = ctypes.pythonapi.PyCapsule_GetName
_get_name.restype = ctypes.c_char_p
_get_name.argtypes = [ctypes.py_object]
_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_get_pointer.restype = ctypes.c_void_p
_get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


def _routine(name: str, n_args: int):
    """A BLAS routine of scipy's Cython BLAS as a ctypes function (every argument a pointer)."""
    capsule = scipy.linalg.cython_blas.__pyx_capi__[name]
    address = _get_pointer(capsule, _get_name(capsule))
    return ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * n_args))(address)


_DSYRK = _routine("dsyrk", 10)
_DGEMM = _routine("dgemm", 13)


def _char(value: str):
    return ctypes.byref(ctypes.c_char(value.encode()))


def _int(value: int):
    return ctypes.byref(ctypes.c_int(int(value)))


def _double(value: float):
    return ctypes.byref(ctypes.c_double(value))


def add_gram_lower(gram: np.ndarray, rows: np.ndarray) -> None:
    """gram += rows^T rows on the lower triangle of `gram`, in place; the upper is not touched.

    `gram`: Fortran-ordered float64 (n, n); `rows`: C-ordered float64 (b, n). Up to
    THREADED_SYRK_MAX_ORDER one syrk; above, by column blocks (see there).
    """
    order = len(gram)
    if not (gram.flags.f_contiguous and gram.dtype == np.float64 and gram.shape == (order, order)):
        raise ValueError("add_gram_lower: gram must be a square Fortran-ordered float64 array")
    rows = np.ascontiguousarray(rows, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[1] != order:
        raise ValueError(f"add_gram_lower: rows must be (b, {order}), got {rows.shape}")
    if len(rows) == 0 or order == 0:
        return
    # In Fortran terms `rows` is A = rows^T, (n, b) with leading dimension n: gram += A A^T.
    a, c, k, item = rows.ctypes.data, gram.ctypes.data, len(rows), 8
    block = order if order <= THREADED_SYRK_MAX_ORDER else GRAM_BLOCK
    one = _double(1.0)
    for start in range(0, order, block):
        stop = min(start + block, order)
        width = stop - start
        _DSYRK(  # the diagonal block, lower half
            _char("L"), _char("N"), _int(width), _int(k), one,
            a + start * item, _int(order), one, c + (start + start * order) * item, _int(order),
        )  # fmt: skip
        if stop < order:  # the rows below it: gram[stop:, start:stop] += A[stop:] A[start:stop]^T
            _DGEMM(
                _char("N"), _char("T"), _int(order - stop), _int(width), _int(k), one,
                a + stop * item, _int(order), a + start * item, _int(order), one,
                c + (stop + start * order) * item, _int(order),
            )  # fmt: skip


def add_product(product: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """product += left^T right, in place (BLAS gemm; `product` Fortran-ordered float64).

    On one BLAS thread: OpenBLAS's threaded gemm splits the product differently with the
    number of threads for some shapes (measured: a 640 x 50 or 1,024 x 300 product changes
    in its last bits between 1 and 2 threads, a 640 x 3,000 one does not), and the moments
    are a stored output whose bytes must not depend on the machine's thread count.
    """
    with threadpool_limits(1, user_api="blas"):
        return scipy.linalg.blas.dgemm(
            1.0, left.T, right.T, beta=1.0, c=product, trans_b=1, overwrite_c=1
        )


def safe_threads(order: int):
    """Where a BLAS syrk or a Cholesky of this order runs: see THREADED_SYRK_MAX_ORDER."""
    if order <= THREADED_SYRK_MAX_ORDER:
        return nullcontext()
    return threadpool_limits(1, user_api="blas")
