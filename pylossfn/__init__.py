"""pylossfn: torch.nn's loss functions and their gradients for NumPy.

>>> import numpy as np, pylossfn as lf
>>> crit = lf.CrossEntropyLoss()
>>> loss, grad = crit.forward_backward(np.zeros((2, 3)), np.array([0, 2]))
>>> grad.shape
(2, 3)
"""
from . import functional
from .modules import (
    AsymmetricLoss,
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    GaussianNLLLoss,
    HingeEmbeddingLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    Loss,
    MarginRankingLoss,
    MSELoss,
    MultiLabelSoftMarginLoss,
    NLLLoss,
    PoissonNLLLoss,
    SigmoidFocalLoss,
    SmoothL1Loss,
    SoftF1Loss,
    SoftMarginLoss,
    ZLPRLoss,
)

__version__ = "0.1.0"

__all__ = [
    "functional",
    "Loss",
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "NLLLoss",
    "SigmoidFocalLoss",
    "AsymmetricLoss",
    "ZLPRLoss",
    "SoftF1Loss",
    "L1Loss",
    "MSELoss",
    "SmoothL1Loss",
    "HuberLoss",
    "SoftMarginLoss",
    "KLDivLoss",
    "PoissonNLLLoss",
    "GaussianNLLLoss",
    "HingeEmbeddingLoss",
    "MultiLabelSoftMarginLoss",
    "MarginRankingLoss",
]
