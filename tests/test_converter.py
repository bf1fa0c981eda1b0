"""The core converts what is not an ndarray with the converter the package registers.

The extension imports no Python code of its own package (an import cycle):
``pylossfn/__init__.py`` hands it ``pylossfn._convert.as_array`` once, through
``_core._set_converter``.
"""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pylossfn import _convert, _core

CSRC = Path(__file__).resolve().parent.parent / "csrc"


def test_the_package_registered_its_converter():
    # a masked array is refused by as_array, which names the argument
    with pytest.raises(TypeError, match=r"mse_loss: target is a masked array"):
        _core.mse_loss(np.zeros(2), np.ma.masked_array([1.0, 2.0]), None, 1, 1, None)
    assert float(_core.mse_loss([1.0, 2.0], [0.0, 0.0], None, 2, 1, None)) == 5.0


def test_a_registered_converter_is_the_one_called():
    # in a child: the registration is the process's
    code = (
        "import numpy as np, pylossfn\n"
        "from pylossfn import _core, _convert\n"
        "seen = []\n"
        "def conv(obj, fname, arg):\n"
        "    seen.append((fname, arg))\n"
        "    return _convert.as_array(obj, fname, arg)\n"
        "_core._set_converter(conv)\n"
        "loss = _core.mse_loss([1.0, 2.0], np.zeros(2), None, 2, 1, None)\n"
        "print(float(loss), seen)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["5.0", "[('mse_loss',", "'input')]"]


def test_set_converter_takes_a_callable():
    with pytest.raises(TypeError, match=r"_set_converter: fn must be callable, got int"):
        _core._set_converter(3)
    assert _convert.as_array([1], "f", "x").shape == (1,)  # still registered, unchanged


def test_the_binding_imports_no_python_module():
    if not CSRC.is_dir():
        pytest.skip("the C sources are not beside the tests")
    for path in sorted((CSRC / "binding").glob("*.c")) + [CSRC / "module.c"]:
        text = path.read_text()
        assert 'PyImport_ImportModule("pylossfn' not in text, path.name
