"""Accuracy and multi-label classification metrics, in plain NumPy.

Two families live here.

*From scores, torch style.* :func:`binary_accuracy`, :func:`accuracy`,
:func:`top_k_accuracy`, :func:`multilabel_predictions`,
:func:`multiclass_predictions` and :func:`one_hot` take the raw outputs of a
model (``logits``) the way ``torch.nn`` losses do: the class dimension is
axis 1 when ``logits.ndim >= 2`` and axis 0 for a 1-D input; class targets are
integer indices in ``[0, C)``.  Accuracies over nothing (an empty batch) are
``nan``, as a torch mean over nothing is.

*Set-wise and ranking metrics, scikit-learn style.* :func:`subset_accuracy`,
:func:`hamming_loss`, :func:`precision_score`, :func:`recall_score`,
:func:`f1_score`, :func:`average_precision_score`,
:func:`label_ranking_average_precision_score`, :func:`coverage_error` and
:func:`label_ranking_loss` keep the signatures, defaults and numbers of their
``sklearn.metrics`` namesakes (scikit-learn 1.9); :func:`one_error`, which
scikit-learn lacks, follows their conventions.  Targets are either 1-D class
labels (binary or multiclass) or 2-D label-indicator arrays of 0/1 values of
shape ``(n_samples, n_labels)``.  As in scikit-learn, a 2-D array with a single
column is a *column vector*: it is read as 1-D labels, so with one label
``average='macro'`` averages over the two classes 0 and 1.

Conventions shared by every function:

- Inputs are array-likes, converted as :func:`numpy.asarray` would.  Scores may
  be bool, integer or floating; NaN scores raise :class:`ValueError` (they have
  no rank), while ``+-inf`` are ranked like any other value.
- Undefined values (a precision with no predicted samples, an average
  precision with no positive samples, ...) follow scikit-learn's value and emit
  an :class:`UndefinedMetricWarning`, a :class:`UserWarning` subclass.
- Bad input raises :class:`ValueError` (values, shapes) or :class:`TypeError`
  (dtypes) whose message starts with the function's name and names the
  argument; class indices outside ``[0, C)`` raise :class:`IndexError`.
- Scalar results are Python floats; per-label results are float64 arrays.
"""

# The code lives in private modules by topic (_inputs: input normalisation and the
# warning class; _scores: torch style on logits; _setwise: precision/recall/F;
# _ranking; _states: the mergeable states).  Every module imports nothing beyond
# numpy and two stdlib modules, not even typing, so annotations are strings: they
# cost nothing at run time on any Python >= 3.9; a bare np.ndarray means "any dtype".
from ._inputs import UndefinedMetricWarning
from ._ranking import (
    average_precision_score,
    coverage_error,
    label_ranking_average_precision_score,
    label_ranking_loss,
    one_error,
)
from ._scores import (
    accuracy,
    binary_accuracy,
    multiclass_predictions,
    multilabel_predictions,
    one_hot,
    top_k_accuracy,
)
from ._setwise import f1_score, hamming_loss, precision_score, recall_score, subset_accuracy
from ._states import MultilabelConfusion, RankingStats

__all__ = [
    "MultilabelConfusion",
    "RankingStats",
    "UndefinedMetricWarning",
    "accuracy",
    "average_precision_score",
    "binary_accuracy",
    "coverage_error",
    "f1_score",
    "hamming_loss",
    "label_ranking_average_precision_score",
    "label_ranking_loss",
    "multiclass_predictions",
    "multilabel_predictions",
    "one_error",
    "one_hot",
    "precision_score",
    "recall_score",
    "subset_accuracy",
    "top_k_accuracy",
]



def _is_dask(values: "object") -> bool:
    # a dask.array.Array, recognised without importing dask
    return any(type(v).__module__.startswith("dask.array") for v in values)  # type: ignore[attr-defined]


def _dask_aware(fn: "object") -> "object":
    """``fn``, handed to ``pylossfn._dask_metrics`` when any argument is a dask array.

    (No functools here: the module imports nothing beyond numpy, numbers and
    warnings, and loads on its own.)
    """

    def call(*args: "object", **kwargs: "object") -> "object":
        if _is_dask(args) or _is_dask(kwargs.values()):
            from .. import _dask_metrics

            return _dask_metrics.metric(fn, args, kwargs)  # type: ignore[arg-type]
        return fn(*args, **kwargs)  # type: ignore[operator]

    for attr in ("__module__", "__name__", "__qualname__", "__doc__", "__annotations__"):
        setattr(call, attr, getattr(fn, attr))
    setattr(call, "__wrapped__", fn)  # noqa: B010 (mypy: a function has no such attribute)
    setattr(call, "__kwdefaults__", getattr(fn, "__kwdefaults__"))  # noqa: B009, B010
    return call


def _public(obj: "object") -> None:
    """Make ``obj`` (and a class's methods) say it lives here, where users find it.

    The private module is where the code is written; pickles, reprs, the docs
    and doctest's finder (which skips a method whose module is not its class's)
    go by ``__module__``.
    """
    obj.__module__ = __name__
    for member in vars(obj).values() if isinstance(obj, type) else ():
        if isinstance(member, type(_public)):
            member.__module__ = __name__


for _name in __all__:
    _public(globals()[_name])
    if not isinstance(globals()[_name], type):  # the functions, not the classes
        globals()[_name] = _dask_aware(globals()[_name])
del _name
