"""Multi-label vs multi-class in a few lines: which loss, and what gradient.

Multi-label (each sample may have any subset of C labels): one sigmoid per
label, BCEWithLogitsLoss, accuracy = mean over labels of round(sigmoid) == y.
Multi-class (each sample has exactly one of C classes): one softmax over the
classes, CrossEntropyLoss, accuracy = mean of argmax == label.
"""
import numpy as np

import pylossfn as lf
import pylossfn.functional as F

rng = np.random.default_rng(0)
N, C = 8, 5

# multi-label: targets are multi-hot rows
logits = rng.standard_normal((N, C)).astype(np.float32)
multi_hot = (rng.random((N, C)) < 0.3).astype(np.float32)
bce = lf.BCEWithLogitsLoss(pos_weight=np.full(C, 3.0, np.float32))
loss, grad = bce.forward_backward(logits, multi_hot)
acc = np.mean(np.round(F.sigmoid(logits)) == multi_hot)
print(f"multi-label  BCEWithLogitsLoss  loss={loss:.4f}  per-label accuracy={acc:.3f}  "
      f"grad {grad.shape} {grad.dtype}")

# multi-class: targets are class indices
labels = rng.integers(0, C, N)
ce = lf.CrossEntropyLoss(label_smoothing=0.1)
loss, grad = ce.forward_backward(logits, labels)
acc = np.mean(np.argmax(logits, axis=1) == labels)
print(f"multi-class  CrossEntropyLoss   loss={loss:.4f}  accuracy={acc:.3f}  "
      f"grad {grad.shape} {grad.dtype}")

# one gradient step lowers both losses
for name, crit, target in (("BCEWithLogitsLoss", bce, multi_hot), ("CrossEntropyLoss", ce, labels)):
    before, g = crit.forward_backward(logits, target)
    after = crit(logits - 1.0 * g * N, target)
    print(f"{name:18s} one SGD step on the logits: {before:.4f} -> {after:.4f}")
