"""The moments of the train pairs: everything a CCA fit needs from the data.

`stream` (the one pass over the rows: means and covariances, the text side's in one
buffer), `merge` (moments of chunks that combine exactly, for other processes), `ray` (the
chunks on a Ray cluster), `store` (the moments on disk, the covariances as packed lower
triangles: the `moments` stage's output) and `blas` (BLAS calls in place on blocks of one
buffer, and the OpenBLAS workarounds).
"""
