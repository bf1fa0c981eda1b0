"""The Python faces of the core's rows: functions and class callers made from ``_core.LOSSES``.

Each loss is one row of the C core's table: its entry point, torch's function
name, its arguments in order with their kinds, whether ``"batchmean"`` is a
reduction and how many gradients it returns.  A loss function of
:mod:`pylossfn.functional` is written as torch's signature and a docstring;
``from_row`` gives it a body that passes the arguments the row lists, in the
row's order, then the reduction code, want, grad_output and out.  A loss class
is the one its row names (``"cls"``; ``Loss._row`` is set from it) and
``class_caller`` makes its caller from the same row.  So the order of a core
function's arguments is written once, in its C spec, and the Python side never
restates it.
"""
from __future__ import annotations

import inspect
import sys
from typing import Any, Callable, Sequence

from . import _core

#: the rows of the core's table (_core.LOSSES) that are losses, by torch's
#: function name (the plain rows are the activations and the distances)
ROWS = {row["fname"]: row for row in _core.LOSSES if not row["plain"]}
#: the fused classifier heads, by their function's name -> the row whose loss
#: they compute of a linear layer's logits (its ``"head"`` names them)
HEADS = {row["head"]["fname"]: row for row in ROWS.values() if row["head"]}
#: the class each loss row names (its face in :mod:`pylossfn`) -> the row's function name
ROW_OF_CLASS = {row["cls"]: fname for fname, row in ROWS.items()}
#: the rows' families (``row["family"]``) -> their titles, in the order the API
#: pages list them
FAMILIES: dict[str, str] = _core.FAMILIES
#: the row kinds of the arrays a call passes (the rest are options: weights and numbers)
ARRAY_KINDS = frozenset({"input", "real", "index", "array"})
#: options a Python face takes in another form than the core: the face's name ->
#: (the row's arguments it becomes, fn(value, fname) -> {argument: value});
#: pylossfn.functional registers distance_function
ADAPTED: dict[str, tuple[tuple[str, ...], Callable[[Any, str], dict[str, Any]]]] = {}

#: the reduction strings and the core's codes for them (its constants, not literals)
REDUCTIONS = {"none": _core.REDUCE_NONE, "mean": _core.REDUCE_MEAN, "sum": _core.REDUCE_SUM}
_WITH_BATCHMEAN = {**REDUCTIONS, "batchmean": _core.REDUCE_BATCHMEAN}
#: what the calls of the functions want: the loss
_LOSS = _core.WANT_LOSS
#: the arguments of the uniform protocol, after a row's own
_PROTOCOL = ("want", "grad_output", "out", "reduction")


def reduction_code(reduction: str, fname: str, batchmean: bool = False) -> int:
    """The core's code for a reduction string; ValueError for anything else
    (``"batchmean"`` is one for the rows that allow it: kl_div)."""
    try:
        return (_WITH_BATCHMEAN if batchmean else REDUCTIONS)[reduction]
    except (KeyError, TypeError):
        allowed = "'none', 'batchmean', 'sum' or 'mean'" if batchmean else (
            "'none', 'mean' or 'sum'")
        raise ValueError(
            f"{fname}: reduction must be one of {allowed}, got {reduction!r}") from None


def row_arrays(row: Any) -> list[str]:
    """The names of a row's arrays: its leading arguments of an array kind."""
    kinds = [a["kind"] in ARRAY_KINDS for a in row["args"]]
    n = kinds.index(False) if False in kinds else len(kinds)
    if any(kinds[n:]):
        raise SystemError(f"{row['fname']}: the row's arrays must come before its options")
    return [a["name"] for a in row["args"][:n]]


def row_options(row: Any, given: dict[str, Any]) -> tuple[Any, ...]:
    """A row's options in its order, from a face's keywords ``given`` (every
    parameter of the function, defaults included), each made by an adapter
    (``ADAPTED``) where the face takes it in another form."""
    made: dict[str, Any] = {}
    for src, (names, adapt) in ADAPTED.items():
        if src in given and any(a["name"] in names for a in row["args"]):
            made.update(adapt(given[src], row["fname"]))
    return tuple(given[a["name"]] if a["name"] in given else made[a["name"]]
                 for a in row["args"][len(row_arrays(row)):])


def _core_args(row: Any, have: Sequence[str], fixed: dict[str, Any]
               ) -> tuple[list[str], list[str]]:
    """(statements, argument expressions) of a call of ``row``'s core function
    by a face with the parameters ``have``: each row argument is a parameter,
    made by an adapter (``ADAPTED``) from one, or a constant of ``fixed``."""
    pre: list[str] = []
    args: list[str] = []
    for a in row["args"]:
        name = a["name"]
        adapter = next((src for src, (made, _) in ADAPTED.items()
                        if name in made and src in have), None)
        if name in have:
            args.append(name)
        elif adapter is not None:
            line = f"_{adapter} = _adapt[{adapter!r}]({adapter}, {row['fname']!r})"
            pre += [] if line in pre else [line]
            args.append(f"_{adapter}[{name!r}]")
        elif name in fixed:
            args.append(f"_fixed[{name!r}]")
        else:
            raise TypeError(f"{row['fname']}: the face has no argument {name!r}")
    unknown = set(have) - {a["name"] for a in row["args"]} - set(ADAPTED) - set(_PROTOCOL)
    if unknown:
        raise TypeError(f"{row['fname']}: the row has no argument {sorted(unknown)}")
    return pre, args


def _compile(name: str, params: str, pre: list[str], call: str, at: Callable[..., Any],
             fixed: dict[str, Any], row: Any) -> Callable[..., Any]:
    """``def name(params): pre; return call``, compiled as if written where
    the function ``at`` is (its file, line and module globals: tracebacks and
    doctest point at the face); the names it uses are bound here."""
    code = at.__code__
    body = "".join(f"        {s}\n" for s in pre)
    src = "\n" * max(code.co_firstlineno - 2, 0) + (
        "def _make(_fixed, _fn, _code, _adapt, _LOSS):\n"
        f"    def {name}({params}):\n{body}        return {call}\n    return {name}\n")
    ns: dict[str, Any] = {}
    exec(compile(src, code.co_filename, "exec"), vars(sys.modules[at.__module__]), ns)
    fn: Callable[..., Any] = ns["_make"](
        fixed, getattr(_core, row["name"]), reduction_code,
        {k: v[1] for k, v in ADAPTED.items()}, _LOSS)
    return fn


def from_row(face: Callable[..., Any]) -> Callable[..., Any]:
    """The loss function whose signature and docstring are ``face``'s and
    whose body calls its row's core function (see the module's docstring)."""
    row = ROWS[face.__name__]
    sig = inspect.signature(face)
    names = list(sig.parameters)
    kw = [p.kind is p.KEYWORD_ONLY for p in sig.parameters.values()]
    params = names[:kw.index(True)] + ["*"] + names[kw.index(True):] if True in kw else names
    pre, args = _core_args(row, names, {})
    code = f"_code(reduction, {row['fname']!r}, {row['batchmean']})"
    fn = _compile(face.__name__, ", ".join(params), pre,
                  f"_fn({', '.join(args + [code])}, _LOSS, None, None)", face, {}, row)
    fn.__defaults__, fn.__kwdefaults__ = face.__defaults__, face.__kwdefaults__
    fn.__doc__, fn.__annotations__ = face.__doc__, face.__annotations__
    fn.__qualname__, fn.__module__ = face.__qualname__, face.__module__
    return fn


def _same_defaults(init: Callable[..., Any], face: Any, options: tuple[str, ...]) -> None:
    """A class restates its function's defaults (torch's modules do): the function's
    signature owns them, and a class whose default differs fails where it is written."""
    own = inspect.signature(init).parameters
    for name in options:
        if name in face and own[name].default != face[name].default:
            raise TypeError(
                f"{init.__qualname__}: the default of {name!r} is {own[name].default!r}, "
                f"but the function's is {face[name].default!r}")


def class_caller(function: Callable[..., Any], init: Callable[..., Any]
                 ) -> tuple[Callable[..., Any], int, tuple[str, ...]]:
    """What a loss class needs of the row of ``function`` (its loss function):
    its caller ``_fname(want, grad_output, out, reduction, *arrays, *options)``,
    the number of arrays and the options, which are ``init``'s parameters but
    ``reduction``; a row option the class lacks (torch's module has none) is
    the function's default."""
    function = inspect.unwrap(function)
    row = ROWS[function.__name__]
    arrays = row_arrays(row)
    options = tuple(p for p in list(inspect.signature(init).parameters)[1:] if p != "reduction")
    face = inspect.signature(function).parameters
    _same_defaults(init, face, options)
    fixed = {a: p.default for a, p in face.items() if a not in options}
    pre, args = _core_args(row, [*arrays, *options], fixed)
    head = ["want", "grad_output", "out", "reduction", *arrays, *options]
    call = f"_fn({', '.join(args)}, reduction, want, grad_output, out)"
    caller = _compile(f"_{row['fname']}", ", ".join(head), pre, call, function, fixed, row)
    return caller, len(arrays), options
