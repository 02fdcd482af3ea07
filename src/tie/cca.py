"""The public name of the CCA: `from tie.cca import CCA` (it lives in `tie.joint.cca`; the
one pass over the data, `covariances`, in `tie.moments.stream`)."""

from tie.joint.cca import CCA, InvalidParam
from tie.moments.stream import covariances

__all__ = ["CCA", "InvalidParam", "covariances"]
