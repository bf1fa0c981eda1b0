"""pylossfn losses as custom objectives of XGBoost, LightGBM and CatBoost.

A gradient-boosting library grows each tree from the first and second
derivatives of the loss with respect to its raw margins.  The adapters here
compute both with one pass of the C core (``forward_backward(...,
hessian=True)``) and hand them over in each library's own layout and sign:

- XGBoost: ``obj(predt, dtrain)``, or scikit-learn's
  ``obj(y_true, y_pred, sample_weight=None)``; returns ``(grad, hess)`` shaped
  like the margins, ``(n,)`` or ``(n, K)``;
- LightGBM: ``obj(preds, train_data)``, or scikit-learn's
  ``obj(y_true, y_pred, weight, group)``; returns ``(grad, hess)``, ``(n,)``
  or ``(n, K)``;
- CatBoost: ``calc_ders_range(approxes, targets, weights)`` and
  ``calc_ders_multi(approx, target, weight)``, with the log-likelihood sign
  (``der1 = -grad``, ``der2 = -hess``; a K x K ``der2`` per object).

The derivatives are those of the **sum over samples** of the per-sample loss
(whatever the criterion's ``reduction``), each sample's terms multiplied by
the data set's sample weight when it has one; the criterion's other options
(``pos_weight``, ``alpha``, ``gamma``, class ``weight``, ``label_smoothing``,
...) apply.  Labels are floats for the binary and multi-label losses (the
teacher's logits for ``DistillationLoss``) and class indices (as the library's
float labels) for the class-index losses; the loss's row of the core's table
says which (``"boosting"``), and a loss without one is a TypeError.

``hessian="exact"`` is the loss's exact Hessian: its diagonal for XGBoost and
LightGBM, the full per-object K x K matrix for CatBoost's multi-dimensional
call.  ``hessian="builtin"`` is the Hessian the library's own objective uses
for the same loss, so that a model trained with the pylossfn objective is the
built-in objective's model (``BCEWithLogitsLoss`` and ``CrossEntropyLoss``
only):

- XGBoost ``binary:logistic``: ``max(p (1 - p), 1e-16) * w``;
  ``multi:softprob``: ``max(2 p (1 - p) w, 1e-16)``;
- LightGBM ``binary``: ``p (1 - p) w``; ``multiclass``:
  ``K / (K - 1) p (1 - p) w``;
- CatBoost ``Logloss``: ``p (1 - p) w``; ``MultiClass``: the full
  ``diag(p) - p p^T`` (times ``w``), i.e. the exact Hessian.

``min_hessian`` then floors the Hessian (the diagonal) from below, which
keeps trees growing where a loss is flat (focal loss far from the boundary).

The adapters only read the data set's labels and weights through its own
methods, so this module imports with NumPy alone and never imports XGBoost or
LightGBM; CatBoost is imported only to build a multi-label CatBoost objective,
whose base class it must be (an ImportError naming ``pylossfn[boosting]`` when
it is missing).  ``pip install 'pylossfn[boosting]'`` brings the libraries.
"""
from __future__ import annotations

import copy
from typing import Any

import numpy as np

from . import _rows
from .modules import BCEWithLogitsLoss, CrossEntropyLoss, Loss

__all__ = [
    "catboost_metric",
    "catboost_objective",
    "lightgbm_metric",
    "lightgbm_objective",
    "xgboost_metric",
    "xgboost_objective",
]

#: which losses can be objectives, and with which labels, is their row's "boosting"
#: (csrc/binding/binding.h's LF_BOOST_ flags): "elementwise" (a label per margin, a
#: diagonal Hessian; BCELoss is not one: it takes probabilities, and the trees' margins
#: are unbounded), "class_index" (a class index per sample, its K margins coupled) or
#: "rows" (a label vector per sample, its K margins coupled)
_KINDS = {fname: row["boosting"] for fname, row in _rows.ROWS.items() if row["boosting"]}


def _kind(crit: Any) -> str | None:
    """The row's boosting kind of a loss object, or None."""
    return _KINDS.get(getattr(type(crit), "_row", None) or "")


def _supported() -> str:
    """The package's loss classes that can be objectives, for a message."""
    names, todo = set(), list(Loss.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls.__module__.startswith("pylossfn.") and _KINDS.get(cls.__dict__.get("_row") or ""):
            names.add(cls.__name__)
    return ", ".join(sorted(names))


_HESSIANS = ("exact", "builtin")


def _check(crit: Any, hessian: str, min_hessian: float, caller: str) -> None:
    if not isinstance(crit, Loss):
        raise TypeError(
            f"{caller}: crit must be a pylossfn loss (e.g. pylossfn.BCEWithLogitsLoss()), "
            f"got {type(crit).__name__}")
    if _kind(crit) is None:
        raise TypeError(
            f"{caller}: crit {type(crit).__name__} cannot be a boosting objective: the "
            "objective needs a loss of one input (the margins) and a target with a loss per "
            "sample; supported are " + _supported())
    if not isinstance(hessian, str) or hessian not in _HESSIANS:
        raise ValueError(
            f"{caller}: hessian must be 'exact' or 'builtin', got {hessian!r}")
    if hessian == "builtin" and not isinstance(crit, (BCEWithLogitsLoss, CrossEntropyLoss)):
        raise ValueError(
            f"{caller}: hessian='builtin' reproduces the library's binary logistic or softmax "
            f"objective, so crit must be BCEWithLogitsLoss or CrossEntropyLoss, got "
            f"{type(crit).__name__}; use hessian='exact'")
    if (not isinstance(min_hessian, (int, float, np.floating, np.integer))
            or isinstance(min_hessian, bool) or not min_hessian >= 0.0):
        raise ValueError(
            f"{caller}: min_hessian must be a number >= 0, got {min_hessian!r}")


def _per_sample(crit: Loss[Any]) -> Any:
    """A copy of ``crit`` that returns the per-sample losses (``reduction="none"``)."""
    c = copy.copy(crit)  # the configuration (a copy carries no saved state)
    c.reduction = "none"
    return c


class _Adapter:
    """The shared part: labels in, ``(loss, grad, hess)`` of the weighted sum out."""

    _caller = "pylossfn.boosting"

    def __init__(self, crit: Loss[Any], hessian: str, min_hessian: float) -> None:
        _check(crit, hessian, min_hessian, self._caller)
        self.crit = crit
        self.hessian = hessian
        self.min_hessian = float(min_hessian)
        self._none = _per_sample(crit)
        self._class_index = _kind(crit) == "class_index"
        self._elementwise = _kind(crit) == "elementwise"
        # the per-sample loss keeps the margins' shape (element-wise losses, distillation's
        # (n, K) terms): the sample weights broadcast over a sample's K terms
        self._per_margin = _rows.ROWS[str(type(crit)._row)]["dask"]["none"] == "broadcast"

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.crit!r}, hessian={self.hessian!r}, "
                f"min_hessian={self.min_hessian!r})")

    # -- inputs ---------------------------------------------------------------

    def _target(self, label: Any, x: np.ndarray) -> np.ndarray:
        y = np.asarray(label)
        if self._class_index:
            y = y.reshape(-1)
            if y.shape[0] != x.shape[0]:
                raise ValueError(
                    f"{self._caller}: the labels hold {y.shape[0]} class indices but the "
                    f"predictions have {x.shape[0]} rows")
            if y.dtype.kind == "f":
                t = y.astype(np.int64)
                if not np.array_equal(t, y):
                    raise ValueError(
                        f"{self._caller}: {type(self.crit).__name__} needs class indices "
                        "as labels, but the labels have fractional values")
                return t
            return y
        if y.size != x.size:
            raise ValueError(
                f"{self._caller}: {y.size} labels for {x.size} predictions (shape "
                f"{x.shape}); a multi-label objective needs labels of shape (n, K)")
        return y.astype(x.dtype, copy=False).reshape(x.shape)

    def _weights(self, weight: Any, x: np.ndarray) -> np.ndarray | None:
        if weight is None:
            return None
        w = np.asarray(weight, dtype=x.dtype).reshape(-1)
        if w.size == 0:
            return None
        if w.shape[0] != x.shape[0]:
            raise ValueError(
                f"{self._caller}: {w.shape[0]} sample weights for {x.shape[0]} samples")
        return w

    def _grad_output(self, w: np.ndarray | None, x: np.ndarray) -> np.ndarray | None:
        """The sample weights shaped like the per-sample loss."""
        if w is None:
            return None
        if self._per_margin and x.ndim == 2:
            return np.broadcast_to(w[:, None], x.shape)
        return w

    # -- derivatives ----------------------------------------------------------

    def _derivatives(self, x: np.ndarray, t: np.ndarray, w: np.ndarray | None,
                     builtin: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """grad and hess (the diagonal) of ``sum_i w_i loss_i`` at the margins ``x``.

        ``builtin(h, w)`` replaces the weighted exact diagonal: it gets the
        unweighted per-sample diagonal ``h`` and the weights (or None)."""
        if not self._elementwise and x.ndim == 2 and not x.flags.c_contiguous:
            # LightGBM's (n, K) is a class-major (Fortran) view; the row losses run on
            # their unit-stride path, about twice as fast, on a C-ordered copy
            x = np.ascontiguousarray(x)
        if self.hessian == "builtin":
            # the library's transform acts on the unweighted diagonal, so weigh afterwards
            _, grad, h = self._none.forward_backward(x, t, hessian=True)
            wcol = None if w is None else (w[:, None] if x.ndim == 2 else w)
            if wcol is not None:
                grad = grad * wcol
            hess = builtin(h, wcol)
        else:
            go = self._grad_output(w, x)
            _, grad, hess = self._none.forward_backward(x, t, grad_output=go, hessian=True)
        if self.min_hessian > 0.0:
            hess = np.maximum(hess, hess.dtype.type(self.min_hessian))
        return grad, hess

    def _metric(self, x: np.ndarray, t: np.ndarray, w: np.ndarray | None) -> float:
        loss = np.asarray(self._none.forward(x, t), dtype=np.float64)
        if w is None:
            return float(loss.mean()) if loss.size else float("nan")
        wl = np.broadcast_to(w.astype(np.float64).reshape((-1,) + (1,) * (loss.ndim - 1)),
                             loss.shape)
        return float((wl * loss).sum() / wl.sum())


def _is_dataset(obj: Any) -> bool:
    # a library's data set (xgboost.DMatrix, lightgbm.Dataset), without importing it
    return hasattr(obj, "get_label") and hasattr(obj, "get_weight")


# ----------------------------------------------------------------------------
# XGBoost
# ----------------------------------------------------------------------------


def _xgb_logistic(h: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    # XGBoost's LogisticRegression::SecondOrderGradient: max(p (1 - p), 1e-16), then * w
    h = np.maximum(h, np.float32(1e-16))
    return h if w is None else h * w


def _xgb_softmax(h: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    # XGBoost's SoftmaxMultiClassObj: max(2 p (1 - p) w, 1e-16)
    h = 2.0 * h if w is None else 2.0 * h * w
    return np.maximum(h, np.float32(1e-16))


class XGBoostObjective(_Adapter):
    """An XGBoost custom objective (see :func:`xgboost_objective`).

    >>> import numpy as np, pylossfn as lf
    >>> from pylossfn.boosting import xgboost_objective
    >>> obj = xgboost_objective(lf.BCEWithLogitsLoss())
    >>> obj(np.array([1.0, 0.0]), np.array([0.0, 0.0]))   # scikit-learn: (y_true, y_pred)
    (array([-0.5,  0.5]), array([0.25, 0.25]))
    """

    _caller = "xgboost_objective"

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None
                 ) -> tuple[np.ndarray, np.ndarray]:
        if _is_dataset(y_pred):  # native: obj(predt, dtrain)
            x, dtrain = np.asarray(y_true), y_pred
            label, weight = dtrain.get_label(), dtrain.get_weight()
        else:  # scikit-learn: obj(y_true, y_pred, sample_weight=None)
            x, label, weight = np.asarray(y_pred), y_true, sample_weight
        if x.dtype.kind != "f":
            x = x.astype(np.float64)
        t = self._target(label, x)
        w = self._weights(weight, x)
        builtin = _xgb_softmax if self._class_index else _xgb_logistic
        return self._derivatives(x, t, w, builtin)


def xgboost_objective(crit: Loss[Any], *, hessian: str = "exact", min_hessian: float = 0.0
                      ) -> XGBoostObjective:
    """``crit`` as an XGBoost custom objective, for ``xgb.train(..., obj=)`` and the
    scikit-learn estimators' ``objective=``.

    The returned callable serves both interfaces: ``obj(predt, dtrain)`` (the
    native API, labels and weights read from the ``DMatrix``) and
    ``obj(y_true, y_pred, sample_weight=None)`` (``XGBClassifier`` /
    ``XGBRegressor``).  It returns ``(grad, hess)`` shaped like the margins:
    ``(n,)`` for one output, ``(n, K)`` for K classes (``num_class=K``) or K
    labels (``multi_strategy="multi_output_tree"`` with ``(n, K)`` labels).
    The derivatives are of the sum over samples of ``crit``'s per-sample loss,
    times the sample weights; ``hessian="builtin"`` gives XGBoost's
    ``binary:logistic`` / ``multi:softprob`` Hessian (``BCEWithLogitsLoss`` /
    ``CrossEntropyLoss``), ``min_hessian`` floors the Hessian.

    Raises TypeError for a criterion that is not a one-input loss with a
    per-sample value (CTC, Gaussian NLL, soft-F1, the pairwise and triplet
    losses) and ValueError for a bad ``hessian`` or ``min_hessian``.

    >>> import numpy as np, pylossfn as lf
    >>> from pylossfn import boosting
    >>> obj = boosting.xgboost_objective(lf.CrossEntropyLoss(), hessian="builtin")
    >>> grad, hess = obj(np.array([0, 1]), np.zeros((2, 2)))
    >>> grad
    array([[-0.5,  0.5],
           [ 0.5, -0.5]])
    >>> hess                                  # XGBoost's softmax Hessian 2 p (1 - p)
    array([[0.5, 0.5],
           [0.5, 0.5]])

    With XGBoost installed: ``xgb.train(params, dtrain, 10, obj=obj)``.
    """
    return XGBoostObjective(crit, hessian, min_hessian)


class XGBoostMetric:
    """An XGBoost evaluation metric (see :func:`xgboost_metric`).

    >>> import numpy as np, pylossfn as lf
    >>> from pylossfn.boosting import xgboost_metric
    >>> xgboost_metric(lf.MSELoss())(np.array([1.0, 3.0]), np.array([1.0, 1.0]))
    2.0
    """

    def __init__(self, crit: Loss[Any], name: str | None = None) -> None:
        self._adapter = XGBoostObjective(crit, "exact", 0.0)
        self.__name__ = name if name is not None else type(crit).__name__

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        a = self._adapter
        if _is_dataset(y_pred):  # native: custom_metric(predt, dtrain) -> (name, value)
            x = np.asarray(y_true)
            value = a._metric(x, a._target(y_pred.get_label(), x),
                              a._weights(y_pred.get_weight(), x))
            return self.__name__, value
        x = np.asarray(y_pred)
        return a._metric(x, a._target(y_true, x), a._weights(sample_weight, x))


def xgboost_metric(crit: Loss[Any], *, name: str | None = None) -> XGBoostMetric:
    """``crit`` as an XGBoost evaluation metric: the sample-weighted mean of its
    per-sample (per-element, for element-wise losses) values on the raw margins.

    Serves ``xgb.train(..., custom_metric=m)`` (``m(predt, dmatrix)`` returns
    ``(name, value)``) and the scikit-learn estimators' ``eval_metric=m``
    (``m(y_true, y_pred, sample_weight=None)`` returns the value).  The name
    defaults to the criterion's class name.  Lower is better.  For
    ``BCEWithLogitsLoss`` it is XGBoost's ``logloss``; for
    ``CrossEntropyLoss``, ``mlogloss``.  (XGBoost passes raw margins to a
    custom metric when the objective is custom; with a built-in objective set
    ``disable_default_eval_metric`` and pass ``output_margin``-style
    predictions.)

    >>> import numpy as np, pylossfn as lf
    >>> from pylossfn import boosting
    >>> m = boosting.xgboost_metric(lf.BCEWithLogitsLoss())
    >>> round(m(np.array([1.0, 0.0]), np.array([0.0, 0.0])), 6)   # log 2
    0.693147
    """
    return XGBoostMetric(crit, name)


# ----------------------------------------------------------------------------
# LightGBM
# ----------------------------------------------------------------------------


def _lgb_binary(h: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    # LightGBM's BinaryLogloss: |r| (1 - |r|) = p (1 - p), times the weight
    return h if w is None else h * w


class LightGBMObjective(_Adapter):
    """A LightGBM custom objective (see :func:`lightgbm_objective`).

    >>> import numpy as np, pylossfn as lf
    >>> from pylossfn.boosting import lightgbm_objective
    >>> obj = lightgbm_objective(lf.BCEWithLogitsLoss())
    >>> obj(np.array([1.0, 0.0]), np.array([0.0, 0.0]))   # scikit-learn: (y_true, y_pred)
    (array([-0.5,  0.5]), array([0.25, 0.25]))
    """

    _caller = "lightgbm_objective"

    def __call__(self, y_true: Any, y_pred: Any, weight: Any = None, group: Any = None
                 ) -> tuple[np.ndarray, np.ndarray]:
        if _is_dataset(y_pred):  # native: objective(preds, train_data)
            x, data = np.asarray(y_true), y_pred
            label, weight = data.get_label(), data.get_weight()
        else:  # scikit-learn: objective(y_true, y_pred, weight, group)
            x, label = np.asarray(y_pred), y_true
        if x.dtype.kind != "f":
            x = x.astype(np.float64)
        t = self._target(label, x)
        w = self._weights(weight, x)
        if self._class_index:
            k = x.shape[1] if x.ndim == 2 else 1
            factor = k / (k - 1.0) if k > 1 else 1.0

            def builtin(h: np.ndarray, w: np.ndarray | None) -> np.ndarray:
                # LightGBM's MulticlassSoftmax: factor_ = K / (K - 1); factor p (1 - p) w
                h = factor * h
                return h if w is None else h * w
        else:
            builtin = _lgb_binary
        return self._derivatives(x, t, w, builtin)


def lightgbm_objective(crit: Loss[Any], *, hessian: str = "exact", min_hessian: float = 0.0
                       ) -> LightGBMObjective:
    """``crit`` as a LightGBM custom objective, for ``params["objective"]`` of
    ``lgb.train`` and the scikit-learn estimators' ``objective=``.

    The returned callable serves both interfaces: ``obj(preds, train_data)``
    (LightGBM 4's native callable objective, labels and weights read from the
    ``Dataset``) and ``obj(y_true, y_pred, weight, group)`` (``LGBMClassifier``
    / ``LGBMRegressor``).  Margins are ``(n,)``, or ``(n, K)`` with
    ``num_class=K``; ``(grad, hess)`` come back in the same shape (LightGBM
    flattens them class-major itself).  The derivatives are of the sum over
    samples of ``crit``'s per-sample loss, times the sample weights;
    ``hessian="builtin"`` gives LightGBM's ``binary`` / ``multiclass``
    Hessian (``K / (K - 1) p (1 - p)``), ``min_hessian`` floors the Hessian.
    Set ``boost_from_average=False`` on the built-in objective to compare
    (a custom objective starts from zero margins).

    Raises as :func:`xgboost_objective` does.

    >>> import numpy as np, pylossfn as lf
    >>> from pylossfn import boosting
    >>> obj = boosting.lightgbm_objective(lf.CrossEntropyLoss(), hessian="builtin")
    >>> grad, hess = obj(np.array([0, 1]), np.zeros((2, 2)))
    >>> hess                                  # LightGBM's K/(K-1) p (1 - p), K = 2
    array([[0.5, 0.5],
           [0.5, 0.5]])
    """
    return LightGBMObjective(crit, hessian, min_hessian)


class LightGBMMetric:
    """A LightGBM evaluation metric (see :func:`lightgbm_metric`).

    >>> import numpy as np, pylossfn as lf
    >>> from pylossfn.boosting import lightgbm_metric
    >>> lightgbm_metric(lf.MSELoss())(np.array([1.0, 3.0]), np.array([1.0, 1.0]))
    ('MSELoss', 2.0, False)
    """

    def __init__(self, crit: Loss[Any], name: str | None = None) -> None:
        self._adapter = LightGBMObjective(crit, "exact", 0.0)
        self.name = name if name is not None else type(crit).__name__

    def __call__(self, y_true: Any, y_pred: Any, weight: Any = None, group: Any = None
                 ) -> tuple[str, float, bool]:
        a = self._adapter
        if _is_dataset(y_pred):  # native: feval(preds, eval_data)
            x, label, weight = np.asarray(y_true), y_pred.get_label(), y_pred.get_weight()
        else:
            x, label = np.asarray(y_pred), y_true
        return self.name, a._metric(x, a._target(label, x), a._weights(weight, x)), False


def lightgbm_metric(crit: Loss[Any], *, name: str | None = None) -> LightGBMMetric:
    """``crit`` as a LightGBM evaluation metric: the sample-weighted mean of its
    per-sample (per-element, for element-wise losses) values on the raw scores.

    Serves ``lgb.train(..., feval=m)`` (``m(preds, eval_data)``) and the
    scikit-learn estimators' ``eval_metric=m`` (``m(y_true, y_pred, weight,
    group)``); both return ``(name, value, is_higher_better=False)``.  For
    ``BCEWithLogitsLoss`` with a custom objective it equals LightGBM's
    ``binary_logloss``, for ``CrossEntropyLoss`` its ``multi_logloss``.

    >>> import numpy as np, pylossfn as lf
    >>> from pylossfn import boosting
    >>> name, value, higher_better = boosting.lightgbm_metric(lf.CrossEntropyLoss())(
    ...     np.array([0, 1]), np.zeros((2, 2)))
    >>> name, round(value, 6), higher_better
    ('CrossEntropyLoss', 0.693147, False)
    """
    return LightGBMMetric(crit, name)


# ----------------------------------------------------------------------------
# CatBoost
# ----------------------------------------------------------------------------


class CatBoostObjective(_Adapter):
    """A CatBoost custom objective (see :func:`catboost_objective`).

    >>> import numpy as np, pylossfn as lf
    >>> from pylossfn.boosting import catboost_objective
    >>> obj = catboost_objective(lf.BCEWithLogitsLoss())
    >>> obj.calc_ders_range([0.0, 0.0], [1.0, 0.0], None)   # (t - p, -p (1 - p))
    [(0.5, -0.25), (-0.5, -0.25)]
    """

    _caller = "catboost_objective"

    def calc_ders_range(self, approxes: Any, targets: Any, weights: Any
                        ) -> list[tuple[float, float]]:
        """One-dimensional objective: ``[(der1, der2), ...]`` per object with
        ``der1 = -dloss/dapprox``, ``der2 = -d2loss/dapprox2`` (CatBoost
        maximises the log-likelihood)."""
        x = np.asarray(approxes, dtype=np.float64)
        t = self._target(targets, x)
        w = self._weights(weights, x)
        grad, hess = self._derivatives(x, t, w, _lgb_binary)
        return list(zip((-grad).tolist(), (-hess).tolist()))

    def calc_ders_multi(self, approx: Any, target: Any, weight: Any
                        ) -> tuple[list[float], list[list[float]]]:
        """Multi-dimensional objective (``MultiClass`` with class-index
        targets, or multi-label): ``(der1, der2)`` of one object, der1 of
        length K and der2 the K x K matrix, both log-likelihood signed."""
        x = np.asarray(approx, dtype=np.float64).reshape(1, -1)
        k = x.shape[1]
        t = self._target(np.asarray(target).reshape(1, -1) if not self._class_index
                         else np.asarray(target).reshape(1), x)
        if self._elementwise:
            _, grad, diag = self._none.forward_backward(x, t, hessian=True)
            full = np.diag(diag[0])
        else:
            # row-coupled (softmax, ZLPR): the object repeated K times, so that one
            # Hessian-vector product with the identity gives all K columns at once
            xr, tr = np.repeat(x, k, axis=0), np.repeat(t, k, axis=0)
            _, grad = self._none.forward_backward(xr, tr)
            full = self._none.hvp(np.eye(k))
        w = 1.0 if weight is None else float(weight)
        g, full = w * grad[0], w * full
        if self.min_hessian > 0.0:
            d = np.diag_indices(k)
            full[d] = np.maximum(full[d], self.min_hessian)
        return (-g).tolist(), (-full).tolist()


def _multi_target_class() -> type:
    try:
        from catboost import MultiTargetCustomObjective
    except ImportError:
        raise ImportError(
            "pylossfn.boosting: a multi-label CatBoost objective derives from "
            "catboost.MultiTargetCustomObjective; install CatBoost with "
            "pip install 'pylossfn[boosting]'") from None
    # CatBoost recognises a multi-target objective by this base class alone
    return type("CatBoostMultiTargetObjective",
                (CatBoostObjective, MultiTargetCustomObjective), {})


def catboost_objective(crit: Loss[Any], *, hessian: str = "exact", min_hessian: float = 0.0,
                       multi_label: bool | None = None) -> CatBoostObjective:
    """``crit`` as a CatBoost custom objective: the object to pass as
    ``loss_function`` (with an ``eval_metric``, as CatBoost requires for a
    custom loss).

    ``calc_ders_range(approxes, targets, weights)`` serves one-dimensional
    models (binary, regression); ``calc_ders_multi(approx, target, weight)``
    serves ``MultiClass``-style models with K dimensions (class-index targets
    for the softmax losses; K labels for the multi-label ones) and returns the
    full K x K Hessian of the object, computed from exact Hessian-vector
    products where the loss couples the outputs (softmax, ZLPR).  Both use
    CatBoost's log-likelihood sign: ``der1 = -grad``, ``der2 = -hess``, times
    the object's weight.  For ``BCEWithLogitsLoss`` and ``CrossEntropyLoss``
    the exact Hessian is the one CatBoost's ``Logloss`` and ``MultiClass``
    use, so ``hessian="builtin"`` equals ``"exact"`` here; ``min_hessian``
    floors the diagonal.

    ``multi_label=True`` makes a multi-label objective (labels ``(n, K)``,
    e.g. ``SigmoidFocalLoss`` over K labels): CatBoost takes one only as a
    ``catboost.MultiTargetCustomObjective``, so this (alone) imports CatBoost.
    It defaults to True for the losses whose labels are a vector per sample
    (``ZLPRLoss``, ``MultiLabelSoftMarginLoss``, ``DistillationLoss``) and False
    otherwise.

    Raises as :func:`xgboost_objective` does; ValueError for
    ``multi_label=True`` with a class-index loss.

    >>> import numpy as np, pylossfn as lf
    >>> from pylossfn import boosting
    >>> obj = boosting.catboost_objective(lf.CrossEntropyLoss())
    >>> der1, der2 = obj.calc_ders_multi([0.0, 0.0], 1, 1.0)
    >>> der1, der2                             # t - p, -(diag(p) - p p^T)
    ([-0.5, 0.5], [[-0.25, 0.25], [0.25, -0.25]])
    """
    if multi_label is None:
        multi_label = _kind(crit) == "rows"
    if multi_label:
        if _kind(crit) == "class_index":
            raise ValueError(
                f"catboost_objective: multi_label=True needs a multi-label loss, but "
                f"{type(crit).__name__} takes class indices (a MultiClass model)")
        _check(crit, hessian, min_hessian, "catboost_objective")
        cls: Any = _multi_target_class()
        return cls(crit, hessian, min_hessian)
    return CatBoostObjective(crit, hessian, min_hessian)


class CatBoostMetric:
    """A CatBoost evaluation metric (see :func:`catboost_metric`).

    >>> import numpy as np, pylossfn as lf
    >>> from pylossfn.boosting import catboost_metric
    >>> m = catboost_metric(lf.MSELoss())
    >>> m.get_final_error(*m.evaluate([[1.0, 1.0]], [1.0, 3.0], None))
    2.0
    """

    def __init__(self, crit: Loss[Any]) -> None:
        self._adapter = CatBoostObjective(crit, "exact", 0.0)

    def is_max_optimal(self) -> bool:
        """Lower is better."""
        return False

    def evaluate(self, approxes: Any, target: Any, weight: Any) -> tuple[float, float]:
        """``(sum of weighted losses, sum of weights)`` of one block of objects;
        ``approxes`` holds one sequence per model dimension."""
        a = self._adapter
        cols = [np.asarray(c, dtype=np.float64) for c in approxes]
        x = cols[0] if len(cols) == 1 else np.stack(cols, axis=1)
        t = a._target(target, x)
        w = a._weights(weight, x)
        loss = np.asarray(a._none.forward(x, t), dtype=np.float64)
        wl = np.ones(loss.shape) if w is None else np.broadcast_to(
            w.astype(np.float64).reshape((-1,) + (1,) * (loss.ndim - 1)), loss.shape)
        return float((wl * loss).sum()), float(wl.sum())

    def get_final_error(self, error: float, weight: float) -> float:
        """The weighted mean."""
        return error / weight if weight else float("nan")


def catboost_metric(crit: Loss[Any]) -> CatBoostMetric:
    """``crit`` as a CatBoost ``eval_metric`` object (``is_max_optimal``,
    ``evaluate``, ``get_final_error``): the weighted mean of the per-sample
    (per-element) losses on the raw approxes.  For ``BCEWithLogitsLoss`` it is
    CatBoost's ``Logloss``, for ``CrossEntropyLoss`` its ``MultiClass`` metric.

    >>> import numpy as np, pylossfn as lf
    >>> from pylossfn import boosting
    >>> m = boosting.catboost_metric(lf.BCEWithLogitsLoss())
    >>> round(m.get_final_error(*m.evaluate([[0.0, 0.0]], [1.0, 0.0], None)), 6)
    0.693147
    """
    return CatBoostMetric(crit)
