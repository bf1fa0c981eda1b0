"""Which loss for multi-label, which for multi-class?  The answer on real data.

A small MLP in pure NumPy (forward, backward and Adam written out by hand,
pylossfn computing each loss and its gradient in one fused call) is trained
with every loss of each task and scored by 10-fold cross-validation on two
real, standard data sets that the ``river`` wheel ships (nothing is
downloaded):

  Yeast (multi-label: 2,417 genes x 103 features, 14 functional classes)
    sigmoid + BCEWithLogitsLoss, softmax + CrossEntropyLoss on normalised
    multi-hot rows, SigmoidFocalLoss, AsymmetricLoss, ZLPRLoss, SoftF1Loss,
    DiceLoss, Poly-1 BCE, MultiLabelMarginLoss; beside them the published rows of BP-MLL and ML-kNN
    and, in the same folds, scikit-learn's one-vs-rest LogisticRegression and
    MLPClassifier (which trains exactly sigmoid + BCE)
  Image Segments (multi-class: 2,310 regions x 18 features, 7 classes)
    softmax + CrossEntropyLoss (with and without label smoothing), Poly-1
    cross-entropy, one-hot sigmoid + BCEWithLogitsLoss, MultiMarginLoss, one-hot
    SigmoidFocalLoss;
    beside them scikit-learn's LogisticRegression and MLPClassifier

Protocol: K-fold cross-validation with a fixed seed (stratified for the
classes); features standardised with the training fold's mean and standard
deviation; per test fold and per loss, the width, the weight decay and the
number of epochs are chosen on an inner 80/20 split of the training fold only
(label-ranking average precision or accuracy on the inner 20 %), then the MLP
is trained on the whole training fold and scored once on the test fold.
Results are the mean and standard deviation over the test folds.

It also trains one MLP twice on one fold, with pylossfn's and with torch's
losses (same initial weights, same batches), to show the loss curves agree to
float32 rounding (skipped with a note when torch is not installed).

    python examples/train_mlp.py [--quick] [--folds 10] [--jobs 2] [--out examples/output]
    python examples/train_mlp.py --data synthetic   # generated data, the same protocol

Writes the figure ``train_mlp.png`` and ``results.json`` to ``--out``.
"""
import argparse
import csv
import gzip
import importlib.util
import io
import json
import os
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import pylossfn as lf
import pylossfn.functional as F
import pylossfn.metrics as M

# -- the data: Yeast and Image Segments, from the files the river wheel ships -----------
# river itself is never imported (its dataset classes pull in its streaming machinery):
# its folder is found with importlib.util.find_spec, which does not run the package, and
# the CSV files are parsed with the standard library and NumPy.
#   yeast.csv.gz     Yeast (Elisseeff & Weston, NIPS 2001), MULAN's copy (OpenML 40597):
#                    features Att1..Att103, the 14 functional classes Class1..Class14 as 0/1
#   segment.csv.zip  Image Segments (UCI Statlog Image Segmentation): 18 features, the
#                    class name in "category"

YEAST_SHAPE = (2417, 103, 14)  # samples, features, labels
SEGMENT_SHAPE = (2310, 18, 7)  # samples, features, classes


def river_datasets_dir():
    """The ``datasets`` folder of the installed river package (not imported)."""
    spec = importlib.util.find_spec("river")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "the real data sets come from the river package's files: pip install river "
            '(or pip install ".[examples]"), or run with --data synthetic'
        )
    return Path(next(iter(spec.submodule_search_locations))) / "datasets"


def _csv_rows(text):
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    return header, [row for row in reader if row]


def _check(name, got, expected):
    if got != expected:
        raise ValueError(f"{name}: expected (samples, features, outputs) {expected}, got {got}")


def load_yeast(folder=None):
    """``X`` float64 ``(2417, 103)`` and ``Y`` int64 multi-hot ``(2417, 14)``."""
    path = Path(folder or river_datasets_dir()) / "yeast.csv.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        header, rows = _csv_rows(f.read())
    values = np.array(rows, dtype=np.float64)
    is_label = np.array([h.startswith("Class") for h in header])
    X, Y = values[:, ~is_label], values[:, is_label].astype(np.int64)
    _check("yeast", (X.shape[0], X.shape[1], Y.shape[1]), YEAST_SHAPE)
    return X, Y


def load_segment(folder=None):
    """``X`` float64 ``(2310, 18)``, ``y`` int64 class indices and the class names."""
    path = Path(folder or river_datasets_dir()) / "segment.csv.zip"
    with zipfile.ZipFile(path) as z:
        header, rows = _csv_rows(z.read(z.namelist()[0]).decode("utf-8"))
    target = header.index("category")
    names, y = np.unique([r[target] for r in rows], return_inverse=True)
    X = np.array([r[:target] + r[target + 1:] for r in rows], dtype=np.float64)
    _check("segment", (X.shape[0], X.shape[1], len(names)), SEGMENT_SHAPE)
    return X, y.astype(np.int64), [str(n) for n in names]


# -- the published rows (10-fold CV on Yeast) -------------------------------------------
# coverage there counts from 0 (scikit-learn's coverage_error minus one); "average
# precision" is the label-ranking average precision.
PUBLISHED = {
    "BP-MLL (Zhang & Zhou, IEEE TKDE 2006)": {
        "hamming_loss": 0.206, "one_error": 0.233, "coverage": 6.421, "ranking_loss": 0.171,
        "average_precision": 0.756,
    },
    "ML-kNN (Zhang & Zhou, Pattern Recognition 2007)": {
        "hamming_loss": 0.194, "one_error": 0.230, "coverage": 6.275, "ranking_loss": 0.167,
        "average_precision": 0.765,
    },
}
ML_KNN = "ML-kNN (Zhang & Zhou, Pattern Recognition 2007)"

# metric: (column title, lower is better)
ML_METRICS = {
    "hamming_loss": ("Hamming loss", True),
    "one_error": ("one-error", True),
    "coverage": ("coverage", True),
    "ranking_loss": ("ranking loss", True),
    "average_precision": ("average precision", False),
    "micro_f1": ("micro-F1", False),
    "macro_f1": ("macro-F1", False),
    "subset_accuracy": ("subset accuracy", False),
}
MC_METRICS = {"accuracy": ("accuracy", False), "macro_f1": ("macro-F1", False)}


# -- the model --------------------------------------------------------------------------


class MLP:
    """x -> dropout(relu(x W1 + b1)) W2 + b2, with hand-written backward and AdamW."""

    def __init__(self, n_in, n_hidden, n_out, rng, dropout=0.5):
        self.params = [
            (rng.standard_normal((n_in, n_hidden)) * np.sqrt(2.0 / n_in)).astype(np.float32),
            np.zeros(n_hidden, np.float32),
            (rng.standard_normal((n_hidden, n_out)) * np.sqrt(1.0 / n_hidden)).astype(np.float32),
            np.zeros(n_out, np.float32),
        ]
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.t = 0
        self.rng, self.dropout = rng, dropout

    def forward(self, x, train=False):
        W1, b1, W2, b2 = self.params
        self._x = x
        h = x @ W1
        h += b1
        np.maximum(h, 0.0, out=h)
        if train and self.dropout:  # inverted dropout: scaled at training time
            # one random byte per unit (a third of the time of random floats): a unit is
            # dropped with probability round(256 p) / 256, exactly p for p = 0.5
            u = np.frombuffer(self.rng.bytes(h.size), np.uint8).reshape(h.shape)
            h *= u >= round(256 * self.dropout)
            h *= np.float32(1.0 / (1.0 - self.dropout))
        self._h = h
        out = h @ W2
        out += b2
        return out

    def backward(self, d_logits):
        W1, b1, W2, b2 = self.params
        d_h = d_logits @ W2.T
        d_h *= self._h > 0
        return [self._x.T @ d_h, d_h.sum(0), self._h.T @ d_logits, d_logits.sum(0)]

    def adam_step(self, grads, lr=2e-3, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0):
        """AdamW: Adam (bias correction folded into the step size, as in Kingma & Ba's
        section 2) with decoupled weight decay on the two weight matrices.  In place:
        the step runs on every batch, so it makes no temporaries it can avoid."""
        self.t += 1
        correction = np.sqrt(1.0 - b2**self.t)
        step = np.float32(lr * correction / (1.0 - b1**self.t))
        eps_hat = np.float32(eps * correction)
        for i, (p, g, m, v) in enumerate(zip(self.params, grads, self.m, self.v)):
            m += np.float32(1.0 - b1) * (g - m)
            g *= g  # g is ours to overwrite: the gradient's square, then v's update
            g -= v
            g *= np.float32(1.0 - b2)
            v += g
            if i % 2 == 0 and weight_decay:
                p *= np.float32(1.0 - lr * weight_decay)
            update = np.sqrt(v)
            update += eps_hat
            np.divide(m, update, out=update)
            update *= step
            p -= update


def fit(net, X, target, loss_fn, epochs, rng, weight_decay, lr=2e-3, batch=128,
        checkpoint=None, every=10):
    """Train ``net`` on (X, target) with ``loss_fn(logits, target) -> (loss, grad)``.

    Returns the loss of every step (a batch mean); ``checkpoint(epoch)`` is called every
    ``every`` epochs and after the last; training stops when it returns False.
    """
    losses = []
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(X))
        for start in range(0, len(order), batch):
            idx = order[start:start + batch]
            loss, d_logits = loss_fn(net.forward(X[idx], train=True), target[idx])
            net.adam_step(net.backward(d_logits), lr=lr, weight_decay=weight_decay)
            losses.append(float(loss))
        if checkpoint is not None and (epoch % every == 0 or epoch == epochs):
            if checkpoint(epoch) is False:
                break
    return losses


# -- the losses: head, loss, target, decision -------------------------------------------


def label_lists(Y):
    """Multi-hot rows -> MultiLabelMarginLoss's targets: label indices, then -1."""
    order = np.argsort(-Y, axis=1, kind="stable")
    return np.where(np.take_along_axis(Y, order, axis=1) > 0, order, -1).astype(np.int64)


@dataclass
class Method:
    """One way to train the MLP: the loss, what it is fed, how scores become decisions.

    ``score`` maps logits to the scores that are thresholded and ranked; ``rule`` is the
    untuned decision threshold on them (None: the method has none and uses the threshold
    fitted on the inner validation split).
    """

    loss: object
    target: object = None  # the training target from Y (default: Y as float32)
    score: object = None  # logits -> scores (default: the logits)
    rule: "float | None" = 0.0
    rule_text: str = "logit > 0 (sigmoid > 0.5)"

    def targets(self, Y):
        return Y.astype(np.float32) if self.target is None else self.target(Y)

    def scores(self, logits):
        return logits if self.score is None else self.score(logits)


def multilabel_methods():
    fitted = "score >= threshold fitted on the inner split"
    return {
        "sigmoid + BCEWithLogitsLoss": Method(lf.BCEWithLogitsLoss()),
        "softmax + CrossEntropyLoss": Method(
            lf.CrossEntropyLoss(), target=lambda Y: (Y / Y.sum(1, keepdims=True)).astype(np.float32),
            score=lambda z: F.softmax(z, 1), rule=None, rule_text=f"softmax {fitted}",
        ),
        "sigmoid + SigmoidFocalLoss": Method(lf.SigmoidFocalLoss()),
        "sigmoid + AsymmetricLoss": Method(lf.AsymmetricLoss()),
        "ZLPRLoss": Method(lf.ZLPRLoss(), rule_text="logit > 0"),
        "sigmoid + SoftF1Loss": Method(lf.SoftF1Loss()),
        "sigmoid + DiceLoss": Method(lf.DiceLoss()),
        "sigmoid + PolyBCEWithLogitsLoss": Method(lf.PolyBCEWithLogitsLoss()),
        "MultiLabelMarginLoss": Method(
            lf.MultiLabelMarginLoss(), target=label_lists, rule=None, rule_text=f"logit {fitted}",
        ),
    }


def multiclass_methods(n_classes):
    def one_hot(y):
        return M.one_hot(y, n_classes).astype(np.float32)

    argmax = "argmax"
    return {
        "softmax + CrossEntropyLoss": Method(lf.CrossEntropyLoss(), target=np.asarray,
                                             rule_text=argmax),
        "softmax + CrossEntropyLoss(label_smoothing=0.1)": Method(
            lf.CrossEntropyLoss(label_smoothing=0.1), target=np.asarray, rule_text=argmax),
        "softmax + PolyCrossEntropyLoss": Method(lf.PolyCrossEntropyLoss(), target=np.asarray,
                                                 rule_text=argmax),
        "sigmoid + BCEWithLogitsLoss (one-hot)": Method(lf.BCEWithLogitsLoss(), target=one_hot,
                                                        rule_text=argmax),
        "MultiMarginLoss": Method(lf.MultiMarginLoss(), target=np.asarray, rule_text=argmax),
        "sigmoid + SigmoidFocalLoss (one-hot)": Method(lf.SigmoidFocalLoss(), target=one_hot,
                                                       rule_text=argmax),
    }


# -- metrics ----------------------------------------------------------------------------


def fitted_threshold(scores, Y):
    """The global threshold on ``scores`` with the best micro-F1 on (scores, Y)."""
    grid = np.unique(np.quantile(scores, np.linspace(0.3, 0.995, 60)))
    f1 = [M.f1_score(Y, scores >= t, average="micro", zero_division=0) for t in grid]
    return float(grid[int(np.argmax(f1))])


def multilabel_scores(Y, logits, scores, threshold):
    """Every multi-label metric of one test fold; ``threshold`` on ``scores`` decides."""
    pred = (scores >= threshold).astype(np.int64)
    cov = M.coverage_error(Y, logits)
    return {
        "hamming_loss": M.hamming_loss(Y, pred),
        "one_error": M.one_error(Y, logits),
        "coverage": cov - 1.0,
        "coverage_error": cov,
        "ranking_loss": M.label_ranking_loss(Y, logits),
        "average_precision": M.label_ranking_average_precision_score(Y, logits),
        "micro_f1": M.f1_score(Y, pred, average="micro", zero_division=0),
        "macro_f1": M.f1_score(Y, pred, average="macro", zero_division=0),
        "subset_accuracy": M.subset_accuracy(Y, pred),
    }


def multiclass_scores(y, logits):
    pred = M.multiclass_predictions(logits)
    return {"accuracy": M.accuracy(logits, y),
            "macro_f1": M.f1_score(y, pred, average="macro", zero_division=0)}


# -- one data set -----------------------------------------------------------------------


@dataclass
class Task:
    """A data set and how it is run."""

    name: str  # key in results.json
    title: str
    X: np.ndarray
    Y: np.ndarray  # multi-hot (multi-label) or class indices (multi-class)
    multilabel: bool
    epochs: int  # the most epochs an inner search tries
    grid: tuple  # (width, weight decay) pairs the inner search tries
    folds: int
    seed: int
    published: dict = field(default_factory=dict)

    @property
    def n_out(self):
        return self.Y.shape[1] if self.multilabel else int(self.Y.max()) + 1

    def methods(self):
        return multilabel_methods() if self.multilabel else multiclass_methods(self.n_out)

    def splits(self):
        from sklearn.model_selection import KFold, StratifiedKFold

        cv = (KFold if self.multilabel else StratifiedKFold)(
            self.folds, shuffle=True, random_state=self.seed)
        return list(cv.split(self.X, self.Y if not self.multilabel else None))

    def fold(self, k):
        """(X_train, Y_train, X_test, Y_test) of fold k, standardised on its training part."""
        train, test = self.splits()[k]
        return standardise(self.X[train], self.Y[train], self.X[test], self.Y[test])

    def units(self):
        """Trainings of one fold (for its progress bar): the search's, then the final fit."""
        return (len(self.grid) + 1) * len(self.methods())


def standardise(Xtr, Ytr, Xte, Yte):
    mu, sd = Xtr.mean(0), Xtr.std(0)
    sd[sd == 0] = 1.0
    return ((Xtr - mu) / sd).astype(np.float32), Ytr, ((Xte - mu) / sd).astype(np.float32), Yte


PATIENCE = 20  # epochs: the inner search stops a setting whose score has not risen for as long


def run_method(task, method, data, seed, tick):
    """Choose width, weight decay and epochs on an inner split, refit, score the test fold."""
    Xtr, Ytr, Xte, Yte = data
    rng = np.random.default_rng(seed)
    inner = rng.permutation(len(Xtr))
    cut = int(0.8 * len(inner))
    fit_idx, val_idx = inner[:cut], inner[cut:]
    Xval, Yval = Xtr[val_idx], Ytr[val_idx]
    loss_fn = method.loss.forward_backward
    best = (-np.inf, None)
    for width, wd in task.grid:
        net = MLP(Xtr.shape[1], width, task.n_out, np.random.default_rng(seed + 1))
        own = {"value": -np.inf, "epoch": 0}  # this setting's best checkpoint

        def checkpoint(epoch, net=net, width=width, wd=wd, own=own):
            nonlocal best
            logits = net.forward(Xval)
            value = (M.label_ranking_average_precision_score(Yval, logits) if task.multilabel
                     else M.accuracy(logits, Yval))
            if value > own["value"]:
                own.update(value=value, epoch=epoch)
            if value > best[0]:
                best = (value, (width, wd, epoch, logits))
            return epoch - own["epoch"] < PATIENCE  # a setting that stopped improving stops

        fit(net, Xtr[fit_idx], method.targets(Ytr[fit_idx]), loss_fn, task.epochs,
            np.random.default_rng(seed + 2), wd, checkpoint=checkpoint)
        tick()
    width, wd, epochs, val_logits = best[1]
    threshold = fitted_threshold(method.scores(val_logits), Yval) if task.multilabel else None
    net = MLP(Xtr.shape[1], width, task.n_out, np.random.default_rng(seed + 1))
    fit(net, Xtr, method.targets(Ytr), loss_fn, epochs, np.random.default_rng(seed + 2), wd)
    tick()
    logits = net.forward(Xte)
    chosen = {"width": width, "weight_decay": wd, "epochs": epochs}
    if not task.multilabel:
        return multiclass_scores(Yte, logits), chosen
    scores = method.scores(logits)
    rule = threshold if method.rule is None else method.rule
    out = multilabel_scores(Yte, logits, scores, rule)
    out["micro_f1_fitted"] = M.f1_score(Yte, scores >= threshold, average="micro",
                                        zero_division=0)
    chosen["threshold"] = threshold
    return out, chosen


def baselines(task, data, width, seed):
    """scikit-learn's models in the same fold: one-vs-rest LogisticRegression, MLPClassifier."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.neural_network import MLPClassifier

    Xtr, Ytr, Xte, Yte = data
    lr = LogisticRegression(max_iter=1000)
    models = {
        "scikit-learn LogisticRegression" + (" (one-vs-rest)" if task.multilabel else ""):
            OneVsRestClassifier(lr) if task.multilabel else lr,
        "scikit-learn MLPClassifier" + (" (sigmoid + BCE)" if task.multilabel else ""):
            MLPClassifier((width,), early_stopping=True, max_iter=300, random_state=seed),
    }
    out = {}
    for name, model in models.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(Xtr, Ytr)
        proba = model.predict_proba(Xte)
        if task.multilabel:
            out[name] = multilabel_scores(Yte, proba, proba, 0.5)
        else:
            out[name] = multiclass_scores(Yte, np.log(np.clip(proba, 1e-12, None)))
    return out


def run_fold(task, k, progress=None):
    """Every method and baseline on test fold k: {method: metrics}, {method: choices}."""
    from threadpoolctl import threadpool_limits

    def tick():
        if progress is not None:
            progress(task.name, k)

    data = task.fold(k)
    results, chosen = {}, {}
    with threadpool_limits(1):  # the folds run on the cores side by side
        for i, (name, method) in enumerate(task.methods().items()):
            results[name], chosen[name] = run_method(task, method, data, 1000 * k + 10 * i, tick)
        results.update(baselines(task, data, max(w for w, _ in task.grid), k))
    return results, chosen


# -- the drop-in proof ------------------------------------------------------------------


def dropin(tasks, epochs, seed):
    """The same MLP trained with pylossfn's and with torch's loss (same initial weights,
    same batches, same dropout masks) on fold 1 of each data set: BCEWithLogitsLoss on the
    multi-label one, CrossEntropyLoss on the multi-class one.  The loss curves, their
    largest difference and the seconds spent in the loss; None without torch."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)

    def torch_loss(crit):
        def call(logits, target):
            x = torch.from_numpy(logits).requires_grad_()
            loss = crit(x, torch.from_numpy(target))
            loss.backward()
            return loss.detach().numpy(), x.grad.numpy()
        return call

    def timed(fn, clock):
        def call(logits, target):
            t0 = time.perf_counter()
            out = fn(logits, target)
            clock[0] += time.perf_counter() - t0
            return out
        return call

    out = {}
    for task in tasks:
        Xtr, Ytr = task.fold(0)[:2]
        if task.multilabel:
            name, ours, theirs = "BCEWithLogitsLoss", lf.BCEWithLogitsLoss(), \
                torch.nn.BCEWithLogitsLoss()
            target = Ytr.astype(np.float32)
        else:
            name, ours, theirs = "CrossEntropyLoss", lf.CrossEntropyLoss(), \
                torch.nn.CrossEntropyLoss()
            target = Ytr
        curves, seconds = [], []
        for fn in (ours.forward_backward, torch_loss(theirs)):
            clock = [0.0]
            net = MLP(Xtr.shape[1], 256, task.n_out, np.random.default_rng(seed))
            curves.append(np.array(fit(net, Xtr, target, timed(fn, clock), epochs,
                                       np.random.default_rng(seed + 1), 1e-4)))
            seconds.append(clock[0])
        diff = np.abs(curves[0] - curves[1])
        out[f"{name} ({task.title})"] = {
            "steps": len(curves[0]), "max_abs_diff": float(diff.max()),
            "max_rel_diff": float((diff / np.abs(curves[1])).max()),
            "pylossfn_seconds": seconds[0], "torch_seconds": seconds[1],
            "pylossfn_curve": curves[0].tolist(), "torch_curve": curves[1].tolist(),
        }
    return out


# -- running it all ---------------------------------------------------------------------


def make_tasks(args):
    """The two data sets (real or generated) with this run's settings."""
    folds, seed = args.folds, args.seed
    ml_epochs, mc_epochs = (20, 50) if args.quick else (60, 100)
    # (width, weight decay) pairs of the inner search; on the 18 features of Image Segments
    # the inner searches of a run with width 64 in the grid never chose it
    ml_grid = ((256, 1e-4),) if args.quick else ((64, 1e-4), (256, 1e-4), (256, 1e-2))
    mc_grid = ((256, 1e-4),) if args.quick else ((256, 1e-4), (256, 1e-2))
    if args.data == "synthetic":
        from sklearn.datasets import make_classification, make_multilabel_classification

        Xm, Ym = make_multilabel_classification(
            n_samples=2400, n_features=40, n_classes=12, n_labels=3, allow_unlabeled=False,
            random_state=seed)
        Xc, yc = make_classification(
            n_samples=2400, n_features=40, n_informative=24, n_redundant=4, n_classes=8,
            n_clusters_per_class=1, class_sep=1.2, random_state=seed)
        yeast = ("synthetic-multilabel", "generated multi-label data", Xm, Ym.astype(np.int64),
                 {})
        segment = ("synthetic-multiclass", "generated multi-class data", Xc, yc.astype(np.int64))
    else:
        Xm, Ym = load_yeast()
        Xc, yc, _ = load_segment()
        yeast = ("yeast", "Yeast", Xm, Ym, PUBLISHED)
        segment = ("segment", "Image Segments", Xc, yc)
    n = args.max_samples
    return [
        Task(*yeast[:2], yeast[2][:n], yeast[3][:n], True, ml_epochs, ml_grid, folds, seed,
             yeast[4]),
        Task(*segment[:2], segment[2][:n], segment[3][:n], False, mc_epochs, mc_grid, folds,
             seed),
    ]


def _worker_init(queue):
    global _QUEUE
    _QUEUE = queue


def _queued_progress(name, k):
    _QUEUE.put((name, k))


def _run_job(job, progress=_queued_progress):
    """One job: ("fold", task, k) or ("dropin", tasks, epochs, seed)."""
    if job[0] == "fold":
        return run_fold(job[1], job[2], progress)
    return dropin(*job[1:])


def run_all(tasks, args):
    """Every fold of every task and the drop-in proof, on ``args.jobs`` processes,
    with a progress bar per fold.  Returns (per task: fold results, fold choices), dropin."""
    from tqdm import tqdm

    jobs = [("fold", t, k) for t in tasks for k in range(t.folds)]
    jobs.append(("dropin", tasks, 3 if args.quick else 10, args.seed))
    bars = {}

    def progress(name, k):
        key = (name, k)
        if key not in bars:
            task = next(t for t in tasks if t.name == name)
            bars[key] = tqdm(total=task.units(), desc=f"{name} fold {k + 1}/{task.folds}",
                             unit="fit", file=sys.stderr, dynamic_ncols=True, leave=True,
                             mininterval=0.5)
        bars[key].update()
        if bars[key].n == bars[key].total:
            bars[key].close()

    if args.jobs <= 1:
        outs = [_run_job(j, progress) for j in jobs]
    else:
        import multiprocessing as mp
        import queue as queues
        from concurrent.futures import ProcessPoolExecutor

        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        queue = ctx.Queue()
        with ProcessPoolExecutor(args.jobs, mp_context=ctx, initializer=_worker_init,
                                 initargs=(queue,)) as pool:
            futures = [pool.submit(_run_job, j) for j in jobs]
            while not all(f.done() for f in futures) or not queue.empty():
                try:
                    progress(*queue.get(timeout=0.2))
                except queues.Empty:  # nothing new in 0.2 s
                    pass
            outs = [f.result() for f in futures]
    per_task, i = {}, 0
    for t in tasks:
        per_task[t.name] = outs[i:i + t.folds]
        i += t.folds
    return per_task, outs[-1]


def summarise(task, fold_outs):
    """{method: {metric: [mean, std]}} over the folds, and the choices of the inner search."""
    methods = {}
    for name in fold_outs[0][0]:
        metrics = fold_outs[0][0][name]
        methods[name] = {m: [float(np.mean([f[0][name][m] for f in fold_outs])),
                             float(np.std([f[0][name][m] for f in fold_outs]))]
                         for m in metrics}
    chosen = {name: [f[1][name] for f in fold_outs] for name in fold_outs[0][1]}
    return methods, chosen


PROTOCOL = (
    "{folds}-fold cross-validation ({kind}, shuffled, seed {seed}); features standardised "
    "with each training fold's mean and standard deviation; the MLP (one ReLU hidden layer, "
    "dropout 0.5, AdamW lr 2e-3, batches of 128) gets per test fold and per loss its width and "
    "weight decay from {grid} and its epochs (every 10, at most {epochs}) from an inner 80/20 "
    "split of the training fold ({criterion} on the inner 20 %), then is trained on the whole "
    "training fold and scored on the test fold; mean and standard deviation over the test folds"
)


def results_json(tasks, summaries, drop, seconds):
    out = {}
    for task in tasks:
        methods, chosen = summaries[task.name]
        entry = {
            "n_samples": int(task.X.shape[0]), "n_features": int(task.X.shape[1]),
            ("n_labels" if task.multilabel else "n_classes"): int(task.n_out),
            "protocol": PROTOCOL.format(
                folds=task.folds, seed=task.seed, grid=list(task.grid), epochs=task.epochs,
                kind="KFold" if task.multilabel else "StratifiedKFold",
                criterion="label-ranking average precision" if task.multilabel else "accuracy"),
        }
        if task.multilabel:
            entry["metrics"] = (
                "coverage counts from 0 (Zhang & Zhou; scikit-learn's coverage_error minus 1), "
                "coverage_error from 1 (scikit-learn); average_precision is the label-ranking "
                "average precision; micro_f1_fitted uses the threshold fitted on the inner split")
        entry.update(methods)
        entry["chosen"] = chosen
        if task.published:
            entry["published"] = task.published
        out[task.name] = entry
    if drop is not None:
        out["dropin"] = {k: {m: v for m, v in d.items() if not m.endswith("curve")}
                         for k, d in drop.items()}
    out["seconds"] = seconds
    return out


def fmt(value, std=None):
    return f"{value:.3f}" if std is None else f"{value:.3f} ± {std:.3f}"


def table(task, methods):
    """The answer table of one data set (markdown): ours, the published rows, baselines."""
    metrics = ML_METRICS if task.multilabel else MC_METRICS
    ours = task.methods()
    lines = ["| method | decision | " + " | ".join(t for t, _ in metrics.values()) + " |",
             "| --- | --- | " + " | ".join("---:" for _ in metrics) + " |"]
    for name, values in methods.items():
        rule = ours[name].rule_text if name in ours else ("probability >= 0.5" if
                                                          task.multilabel else "argmax")
        cells = [fmt(*values[m]) for m in metrics]
        lines.append(f"| {name} | {rule} | " + " | ".join(cells) + " |")
    for name, values in task.published.items():
        cells = [fmt(values[m]) if m in values else "—" for m in metrics]
        lines.append(f"| {name}, published | — | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def dropin_table(drop):
    lines = ["| loss | steps | largest loss difference | largest relative difference "
             "| time in the loss, pylossfn | time in the loss, torch |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, d in drop.items():
        lines.append(f"| {name} | {d['steps']} | {d['max_abs_diff']:.2e} | "
                     f"{d['max_rel_diff']:.2e} | {1e3 * d['pylossfn_seconds']:.1f} ms | "
                     f"{1e3 * d['torch_seconds']:.1f} ms |")
    return "\n".join(lines)


def conclusion(tasks, summaries):
    """The answer, in words, with this run's numbers (means over the test folds)."""
    ml, mc = tasks
    a, b = summaries[ml.name][0], summaries[mc.name][0]
    methods = ml.methods()
    bce = a["sigmoid + BCEWithLogitsLoss"]

    def listing(names, metric):
        return ", ".join(f"{n} {fmt(a[n][metric][0])}" for n in names)

    ap = sorted(methods, key=lambda n: a[n]["average_precision"][0])
    untuned = [n for n in methods if methods[n].rule is not None]
    fitted = [n for n in methods if methods[n].rule is None]
    lines = [
        "Multi-label -> one sigmoid per label + BCEWithLogitsLoss, decided by its untuned rule "
        f"sigmoid > 0.5: on {ml.title} Hamming loss {fmt(bce['hamming_loss'][0])}, ranking loss "
        f"{fmt(bce['ranking_loss'][0])}, average precision {fmt(bce['average_precision'][0])}, "
        f"micro-F1 {fmt(bce['micro_f1'][0])}."]
    if ml.published:
        # compared at the published rows' precision (3 decimals): equal there is level
        ref = ml.published[ML_KNN]
        sign = {m: np.sign(round(bce[m][0], 3) - v) * (1 if ML_METRICS[m][1] else -1)
                for m, v in ref.items()}
        verdicts = [(-1, "better on"), (0, "level on"), (1, "worse on")]
        lines.append(
            "Against ML-kNN's published row it is " + "; ".join(
                f"{word} {', '.join(ML_METRICS[m][0] for m in ref if sign[m] == k)}"
                for k, word in verdicts if any(sign[m] == k for m in ref))
            + " (at the published 3 decimals; the fold-to-fold standard deviations are in "
            "the table).")
    lines += [
        "Ranked without a threshold, the seven losses are close: average precision from "
        f"{fmt(a[ap[0]]['average_precision'][0])} ({ap[0]}) to "
        f"{fmt(a[ap[-1]]['average_precision'][0])} ({ap[-1]}).",
        "They differ in their decisions. Hamming loss at the untuned rule: "
        f"{listing(untuned, 'hamming_loss')}; focal, asymmetric and soft-F1 losses reweight "
        "the labels, so their probabilities are not calibrated and 0.5 is the wrong "
        "threshold for them (micro-F1 with a threshold fitted on the inner split: "
        f"{listing(untuned, 'micro_f1_fitted')}).",
        "Softmax + CE and the multi-label margin loss have no rule of their own and need that "
        f"fitted threshold: Hamming loss {listing(fitted, 'hamming_loss')}.",
    ]
    ce_mc = b["softmax + CrossEntropyLoss"]
    others = [n for n in mc.methods() if n != "softmax + CrossEntropyLoss"]
    lines.append(
        f"Multi-class -> softmax + CrossEntropyLoss: accuracy {fmt(*ce_mc['accuracy'])} on "
        f"{mc.title}; " + ", ".join(f"{n} {fmt(b[n]['accuracy'][0])}" for n in others)
        + ". Only the softmax's outputs are one distribution over the classes.")
    return "\n".join(lines)


def save_figure(tasks, summaries, path):
    """Six panels, each one metric over methods judged the same way, mean ± std over folds:
    ranking metrics (no threshold) for every method, decisions at the untuned rule for the
    methods that have one, decisions at a fitted threshold for every loss, accuracy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ml, mc = tasks
    a, b = summaries[ml.name][0], summaries[mc.name][0]
    methods = ml.methods()
    everyone = list(a)  # the losses, then the baselines
    untuned = [n for n in a if n not in methods or methods[n].rule is not None]
    panels = [
        (a, everyone, "average_precision", f"{ml.title}: average precision (ranking, no threshold)"),
        (a, everyone, "ranking_loss", f"{ml.title}: ranking loss (no threshold)"),
        (a, untuned, "hamming_loss", f"{ml.title}: Hamming loss, untuned rule (p > 0.5)"),
        (a, untuned, "micro_f1", f"{ml.title}: micro-F1, untuned rule"),
        (a, list(methods), "micro_f1_fitted",
         f"{ml.title}: micro-F1, threshold fitted on the inner split"),
        (b, list(b), "accuracy", f"{mc.title}: accuracy (argmax)"),
    ]
    fig, axes = plt.subplots(2, 3, figsize=(17, 9))
    for ax, (res, names, metric, title) in zip(axes.flat, panels):
        y = np.arange(len(names))
        colors = ["C0" if n in methods or res is b and "scikit" not in n else "C7" for n in names]
        for yi, n, c in zip(y, names, colors):
            ax.errorbar(res[n][metric][0], yi, xerr=res[n][metric][1], fmt="o", color=c,
                        capsize=3)
        for k, (paper, row) in enumerate(ml.published.items() if res is a else []):
            if metric in row:
                ax.axvline(row[metric], color=f"C{k + 1}", ls="--", lw=1,
                           label=f"{paper.split(' (')[0]}, published")
        ax.set_yticks(y, names, fontsize=7)
        ax.invert_yaxis()
        ax.set_title(title, fontsize=9)
        ax.grid(axis="x", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="best")
    fig.suptitle(f"{ml.folds}-fold cross-validation: mean ± standard deviation over the test "
                 "folds (blue: the MLP with pylossfn's losses; grey: scikit-learn)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("real", "synthetic"), default="real",
                        help="Yeast and Image Segments (default), or generated data")
    parser.add_argument("--quick", action="store_true",
                        help="a reduced run: 3 folds, few epochs, one width (for the docs)")
    parser.add_argument("--folds", type=int, default=None, help="default 10 (3 with --quick)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="processes (default: 2 or the number of cores)")
    parser.add_argument("--max-samples", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "output"))
    args = parser.parse_args(argv)
    if args.folds is None:
        args.folds = 3 if args.quick else 10

    t0 = time.perf_counter()
    tasks = make_tasks(args)
    for t in tasks:
        kind = f"{t.n_out} labels" if t.multilabel else f"{t.n_out} classes"
        print(f"{t.title}: {t.X.shape[0]} samples x {t.X.shape[1]} features, {kind}; "
              f"{t.folds}-fold cross-validation", flush=True)
    per_task, drop = run_all(tasks, args)
    summaries = {t.name: summarise(t, per_task[t.name]) for t in tasks}
    seconds = time.perf_counter() - t0

    for t in tasks:
        print(f"\n### {t.title} ({'multi-label' if t.multilabel else 'multi-class'}, "
              f"{t.folds}-fold CV, mean ± std over folds)\n")
        print(table(t, summaries[t.name][0]))
    print("\n### Drop-in: the same MLP with pylossfn's and with torch's losses\n")
    if drop is None:
        print("torch is not installed: the drop-in comparison was skipped "
              "(pip install torch to run it).")
    else:
        print(dropin_table(drop))
    print("\n### Answer\n")
    print(conclusion(tasks, summaries))

    os.makedirs(args.out, exist_ok=True)
    fig_path = os.path.join(args.out, "train_mlp.png")
    save_figure(tasks, summaries, fig_path)
    json_path = os.path.join(args.out, "results.json")
    results = results_json(tasks, summaries, drop, seconds)
    with open(json_path, "w") as f:
        json.dump(results, f, indent=1)
    print(f"\nFigure: {fig_path}\nResults: {json_path}\nRun time: {seconds:.1f} s "
          f"on {args.jobs} process{'es' if args.jobs > 1 else ''}")
    return results


if __name__ == "__main__":
    main()
