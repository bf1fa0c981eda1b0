"""Calls from a Python thread with a small stack.

A kernel may keep up to about half a MiB on its stack (the multi-label
margin's sort buffers, a staged half row of 8,192 classes, the triplet loss's
row work before it moved to the heap); a Python thread may have 128 KiB
(musl's default) or what ``threading.stack_size`` set.  Such a call used to
kill the interpreter.  Each case runs in a child process (a crash must fail
the test, not end the run), inside a thread of a small stack, and compares
with the same call on the main thread, bit for bit: the loss, the gradients,
the Hessians, an exception's type and message.
"""
import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent(r"""
    import sys, threading, warnings
    import numpy as np
    sys.path.insert(0, {tests!r})
    import loss_table as T
    import pylossfn as lf

    def calls(row, dtype, shape):
        rng = np.random.default_rng(0)
        args = row.make_args(rng, dtype, shape)
        crit = row.cls(**row.make_options(rng, dtype, shape))
        out = [crit.forward_backward(*args)]
        try:
            out.append(crit.hessian())
            v = tuple(np.ones_like(args[i]) for i in row.diff)
            out.append(crit.hvp(v if len(v) > 1 else v[0]))
        except NotImplementedError as e:
            out.append(str(e))
        return out

    def flat(x):
        if isinstance(x, (tuple, list)):
            return [y for v in x for y in flat(v)]
        return [np.asarray(x)] if not isinstance(x, str) else [x]

    def same(a, b):
        a, b = flat(a), flat(b)
        return len(a) == len(b) and all(
            (x == y) if isinstance(x, str) else
            (x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y, equal_nan=True))
            for x, y in zip(a, b))

    cases = []
    for row in T.LOSSES:
        for dtype in (np.float32, np.float16):
            for shape in {shapes}:
                try:
                    calls(row, dtype, shape)
                except Exception:
                    continue  # not a valid shape for this loss's maker
                cases.append((row, dtype, shape))
    main = {{i: calls(*c) for i, c in enumerate(cases)}}
    threading.stack_size({stack})
    got = {{}}
    def work():
        warnings.simplefilter("ignore")
        for i, c in enumerate(cases):
            got[i] = calls(*c)
        try:
            lf.CrossEntropyLoss()(np.zeros((2, 3)), np.array([0, 7]))
        except Exception as e:
            got["error"] = (type(e).__name__, str(e))
    t = threading.Thread(target=work)
    t.start()
    t.join()
    bad = [repr(cases[i]) for i in main if i not in got or not same(main[i], got[i])]
    assert not bad, bad
    assert got["error"][0] == "IndexError" and "7" in got["error"][1], got["error"]
    print("ok", len(cases))
""")


@pytest.mark.parametrize("stack", [64 << 10, 128 << 10])
def test_every_loss_from_a_small_stack_thread(stack, tmp_path):
    import os
    tests = os.path.dirname(os.path.abspath(__file__))
    # (8, 600): the multi-label margin's sorted path; (16, 8192): a half row
    # staged whole; the rows' own large shapes: the triplet's general path
    src = CHILD.format(tests=tests, shapes=((8, 600), (16, 8192)), stack=stack)
    run = subprocess.run([sys.executable, "-c", src], capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, (run.returncode, run.stderr[-2000:])
    assert run.stdout.startswith("ok "), run.stdout
    assert int(run.stdout.split()[1]) >= 40, run.stdout  # the cases really ran
