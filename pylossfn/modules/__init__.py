"""The loss classes, one module per family, re-exported by ``pylossfn``."""
from ._base import Loss
from .binary import BCELoss, BCEWithLogitsLoss
from .classification import CrossEntropyLoss, NLLLoss
from .ctc import CTCLoss
from .embedding import CosineEmbeddingLoss, TripletMarginLoss, TripletMarginWithDistanceLoss
from .margin import MultiLabelMarginLoss, MultiMarginLoss
from .multilabel import AsymmetricLoss, SigmoidFocalLoss, SoftF1Loss, ZLPRLoss

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
]
