"""Build of the pylossfn._core extension (metadata lives in pyproject.toml).

PYLOSSFN_WERROR=1 turns compiler warnings into errors (CI sets it);
PYLOSSFN_SANITIZE=1 builds with AddressSanitizer and UBSan.
"""
import glob
import os
import sys

import numpy as np
from setuptools import Extension, setup

# every C file of the engine and of the binding: a new file needs no edit here
SOURCES = sorted(glob.glob("csrc/*.c") + glob.glob("csrc/*/*.c"))


def compile_args():
    if sys.platform == "win32":
        return ["/O2"], []
    # errno and FP traps are never observed here, and without them gcc can
    # vectorize exp/log; -ffast-math stays off so nan/inf keep their meaning.
    cflags = ["-std=c99", "-O3", "-Wall", "-Wextra", "-Wshadow",
              "-fno-math-errno", "-fno-trapping-math"]
    ldflags = []
    if os.environ.get("PYLOSSFN_WERROR") == "1":
        cflags.append("-Werror")
    if os.environ.get("PYLOSSFN_SANITIZE") == "1":
        san = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all",
               "-fno-omit-frame-pointer", "-g", "-O1"]
        cflags += san
        ldflags += san
    return cflags, ldflags


cflags, ldflags = compile_args()
setup(
    ext_modules=[
        Extension(
            "pylossfn._core",
            sources=SOURCES,
            # the kernels are header-templated: rebuild when a header changes
            depends=sorted(glob.glob("csrc/**/*.h", recursive=True)),
            include_dirs=["csrc", np.get_include()],
            # reported by pylossfn.show_config()
            define_macros=[("PYLOSSFN_NUMPY_BUILD", f'"{np.__version__}"')],
            extra_compile_args=cflags,
            extra_link_args=ldflags,
        )
    ]
)
