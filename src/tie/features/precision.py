"""The precision fitted arrays are stored at, so that the same inputs give the same bytes anywhere.

A float64 fit (CCA, a mixture's EM) run under another BLAS kernel, thread count or chunk
size differs from this one in the last bits of its values: ~1e-13 of their magnitude
(measured on the demo's CCA: 4.4e-13 between 1 and 2 OpenBLAS threads). Written as they
are, those bits change the file's hash, and a fresh clone's `dvc repro` cannot reproduce
the committed `dvc.lock`. Rounded to `STORED_BITS` bits below each column's magnitude,
they reach the file only when a value lies within that difference of a rounding step's
midpoint: a chance of about 1e-13 * 2^18 = 3e-8 per value, or 1e-3 for the 35,000 values
of the demo's CCA. Nothing downstream notices the rounding: it moves a cosine by ~1e-6.
"""

from __future__ import annotations

import numpy as np

# Each column is stored as a multiple of 2^-STORED_BITS times the power of two at or above
# its largest magnitude: a step of at most 3.8e-6 of that magnitude, and a value that is
# exact in float64 and in float32.
STORED_BITS = 18


def stored_precision(values) -> np.ndarray:
    """Float `values` (a vector, or a matrix column by column) rounded to the stored precision.

    The scale of a vector, or of each column of a matrix, is the power of two at or above
    its largest magnitude; every value becomes the nearest multiple of scale *
    2^-STORED_BITS (ties to even). A deterministic function of the values: differences
    far below the step cannot change it, except for a value within that difference of a
    step's midpoint. Arrays that are not floating point (counts, flags) are returned as
    they are.

    Examples
    --------
    >>> from tie.features.precision import stored_precision
    >>> stored_precision([0.1, -0.3]).tolist()  # scale 0.5, step 0.5 * 2^-18
    [0.10000038146972656, -0.2999992370605469]
    """
    values = np.asarray(values)
    if not np.issubdtype(values.dtype, np.floating):
        return values
    values = values.astype(np.float64)
    largest = np.abs(values).max(axis=0, keepdims=True) if values.size else np.ones(1)
    scale = np.exp2(np.ceil(np.log2(np.where(largest > 0, largest, 1.0))))
    step = scale * 2.0**-STORED_BITS
    return np.round(values / step) * step + 0.0  # + 0.0: no -0.0, whose bytes differ
