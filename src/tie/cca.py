"""The public name of the CCA: `from tie.cca import CCA` (it lives in `tie.joint.cca`)."""

from tie.joint.cca import CCA, InvalidParam, covariances

__all__ = ["CCA", "InvalidParam", "covariances"]
