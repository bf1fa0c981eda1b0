"""The loss classes, one module per family, re-exported by ``pylossfn``."""
from ._base import Loss
from .binary import BCELoss, BCEWithLogitsLoss
from .classification import CrossEntropyLoss, NLLLoss
from .ctc import CTCLoss
from .embedding import CosineEmbeddingLoss, TripletMarginLoss, TripletMarginWithDistanceLoss
from .linear import Linear, LinearBCEWithLogitsLoss, LinearCrossEntropyLoss
from .margin import MultiLabelMarginLoss, MultiMarginLoss
from .multilabel import AsymmetricLoss, SigmoidFocalLoss, SoftF1Loss, ZLPRLoss
from .regression import (
    GaussianNLLLoss,
    HingeEmbeddingLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MarginRankingLoss,
    MSELoss,
    MultiLabelSoftMarginLoss,
    PoissonNLLLoss,
    SmoothL1Loss,
    SoftMarginLoss,
)
from .simplex import DistillationLoss, PolyCrossEntropyLoss, SparsemaxLoss

__all__ = [
    "Loss",
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "NLLLoss",
    "SigmoidFocalLoss",
    "AsymmetricLoss",
    "ZLPRLoss",
    "SoftF1Loss",
    "CosineEmbeddingLoss",
    "TripletMarginLoss",
    "TripletMarginWithDistanceLoss",
    "MultiMarginLoss",
    "MultiLabelMarginLoss",
    "CTCLoss",
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
    "Linear",
    "LinearCrossEntropyLoss",
    "LinearBCEWithLogitsLoss",
    "PolyCrossEntropyLoss",
    "DistillationLoss",
    "SparsemaxLoss",
]
