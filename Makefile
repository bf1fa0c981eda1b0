# Developer and CI targets.  PYTHON is the interpreter of the environment
# that has the test dependencies (pip install -e ".[test]").
#
#   make build     the extension, in place, warnings as errors
#   make test      the pytest suite (doctests included)
#   make ctest     the C-only engine harness under ASan + UBSan
#   make fuzz      each libFuzzer harness for FUZZ_TIME seconds (clang)
#   make lint      gcc and clang -Werror builds of every C file, cppcheck
#   make stubs     pylossfn/_core.pyi and the API pages' loss sections from the
#                  core's table (tools/gen_stubs.py, tools/gen_api_pages.py;
#                  tests/test_stubs.py and test_table_faces.py fail while they
#                  are out of date)
#   make sanitize  the extension built with ASan + UBSan in build/asan (a
#                  copy of the tree, so it never shadows the normal build),
#                  and the whole suite run against it
#   make docs      the Sphinx site in docs/_build/html and the doctests of its
#                  pages and docstrings, both with warnings as errors
#                  (pip install ".[docs]"; the build runs the examples' gallery
#                  and examples/train_mlp.py)
#   make docs-browser  the built site in headless Chromium at 1400 and 420 px
#                  (tools/check_site.py; Debian's chromium and chromium-driver):
#                  console errors, overflow, math, images, build paths; screenshots
#                  in docs/_build/browser
PYTHON ?= python
CC_GCC ?= gcc
CC_CLANG ?= clang
FUZZ_TIME ?= 60
HYPOTHESIS_PROFILE ?= dev

WARN = -std=c99 -Wall -Wextra -Wshadow -Werror
SAN = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1
KERNELS = $(wildcard csrc/kernels/*.c)
FUZZERS = families elementwise classes
# the only files that include Python.h and the NumPy headers
BINDING = csrc/module.c $(wildcard csrc/binding/*.c)
ASAN_DIR = build/asan
PY_INC = $(shell $(PYTHON) -c "import sysconfig; print(sysconfig.get_paths()['include'])")
NP_INC = $(shell $(PYTHON) -c "import numpy; print(numpy.get_include())")

# Strided buffers are char * stepped by byte strides and read as float or
# double: that cast is the engine's idiom, not a portability bug.  log(0) in
# the log-sum-exp is -inf on purpose (a row of -inf logits), not a domain error.
CPPCHECK = cppcheck --quiet --error-exitcode=1 --std=c99 \
  --enable=warning,portability,performance --inline-suppr \
  --suppress=invalidPointerCast --suppress=missingIncludeSystem --suppress=toomanyconfigs \
  --suppress=invalidFunctionArg:csrc/kernels/classification_impl.h -Icsrc

.PHONY: build test ctest fuzz lint stubs sanitize docs docs-browser clean

build:
	PYLOSSFN_WERROR=1 $(PYTHON) setup.py -q build_ext --inplace

test: build
	PYLOSSFN_HYPOTHESIS=$(HYPOTHESIS_PROFILE) $(PYTHON) -m pytest -q -p no:cacheprovider

ctest:
	mkdir -p tests/c/build
	for cc in $(CC_GCC) $(CC_CLANG); do \
	  $$cc $(WARN) $(SAN) -Icsrc -Ifuzz tests/c/test_engine.c $(KERNELS) -lm -pthread \
	    -o tests/c/build/test_engine_$$cc && \
	  ./tests/c/build/test_engine_$$cc || exit 1; \
	done

# The harnesses run at once; any finding fails the target.  fuzz_families
# reaches every kernel family (and compares the instruction-set variants);
# the other two go deeper into the first four losses' layouts.
# UBSan's pointer-overflow check (every strided address) would cost half the
# executions; ctest and the sanitized suite keep it.
# The kernels are compiled once (instrumented for libFuzzer's coverage without its
# main: fuzzer-no-link) and linked into each harness: compiling them per harness
# took three times as long (8 minutes of CI's engine lane).
FUZZ_FLAGS = $(WARN) -O2 -g -fsanitize=address,undefined -fno-sanitize=pointer-overflow \
	-fno-sanitize-recover=all -Icsrc
fuzz:
	mkdir -p fuzz/build/obj $(addprefix fuzz/build/corpus_,$(FUZZERS))
	rm -f fuzz/build/obj/*.o
	for src in $(KERNELS); do \
	  $(CC_CLANG) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c $$src \
	    -o fuzz/build/obj/$$(basename $$src .c).o || exit 1; \
	done
	for f in $(FUZZERS); do \
	  $(CC_CLANG) $(FUZZ_FLAGS) -fsanitize=fuzzer fuzz/fuzz_$$f.c fuzz/build/obj/*.o -lm -pthread \
	    -o fuzz/build/fuzz_$$f || exit 1; \
	done
	pids=; for f in $(FUZZERS); do \
	  ./fuzz/build/fuzz_$$f -max_total_time=$(FUZZ_TIME) -max_len=256 -seed=1 \
	    -print_final_stats=1 fuzz/build/corpus_$$f > fuzz/build/$$f.log 2>&1 & \
	  pids="$$pids $$!"; \
	done; \
	status=0; for pid in $$pids; do wait $$pid || status=1; done; \
	for f in $(FUZZERS); do \
	  grep -h "stat::number_of_executed_units" fuzz/build/$$f.log | sed "s/^/$$f: /"; \
	done; \
	if [ $$status -ne 0 ]; then tail -n 40 fuzz/build/*.log; exit 1; fi

stubs: build
	$(PYTHON) tools/gen_stubs.py
	$(PYTHON) tools/gen_api_pages.py

lint:
	mkdir -p build/lint
	for cc in $(CC_GCC) $(CC_CLANG); do \
	  for src in $(KERNELS) tests/c/test_engine.c; do \
	    $$cc $(WARN) -O2 -Icsrc -Ifuzz -c $$src -o build/lint/$$(basename $$src).$$cc.o || exit 1; \
	  done; \
	  for src in $(BINDING); do \
	    $$cc $(WARN) -O2 -Icsrc -I$(PY_INC) -I$(NP_INC) -fPIC \
	      -c $$src -o build/lint/$$(basename $$src).$$cc.o || exit 1; \
	  done; \
	done
	for f in $(FUZZERS); do \
	  $(CC_CLANG) $(WARN) -O1 -fsanitize=fuzzer-no-link -Icsrc -c fuzz/fuzz_$$f.c \
	    -o build/lint/fuzz_$$f.o || exit 1; \
	done
	$(CPPCHECK) -Ifuzz csrc/kernels tests/c fuzz
	$(CPPCHECK) -I$(PY_INC) -I$(NP_INC) -Icsrc/binding $(BINDING)

# The sanitized extension is loaded into the ordinary interpreter, so ASan's
# runtime must come first (LD_PRELOAD), and libstdc++ right after it: torch
# throws C++ exceptions, and ASan's __cxa_throw interceptor aborts when
# libstdc++ was not loaded when ASan started.  CPython "leaks" at exit by design.
# allocator_may_return_null: the tests ask for impossible sizes on purpose and
# expect MemoryError, which ASan's allocator would turn into an abort.
sanitize:
	rm -rf $(ASAN_DIR) && mkdir -p $(ASAN_DIR)
	cp -r csrc pylossfn tests tools examples notebooks docs setup.py pyproject.toml README.md LICENSE $(ASAN_DIR)/
	find $(ASAN_DIR) -name "*.so" -delete
	cd $(ASAN_DIR) && PYLOSSFN_SANITIZE=1 PYLOSSFN_WERROR=1 $(PYTHON) setup.py -q build_ext --inplace
	cd $(ASAN_DIR) && \
	  LD_PRELOAD="$$($(CC_GCC) -print-file-name=libasan.so) $$($(CC_GCC) -print-file-name=libstdc++.so)" \
	  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allocator_may_return_null=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  PYLOSSFN_SANITIZED=1 PYLOSSFN_HYPOTHESIS=$(HYPOTHESIS_PROFILE) \
	  PYTHONPATH=$(abspath $(ASAN_DIR)) \
	  $(PYTHON) -m pytest -s -q -p no:cacheprovider -m "not dask and not boosting" \
	    $(addprefix --ignore=tests/,$(SANITIZE_SKIP))

# Left out of the sanitized run: pure Python over calls the rest already makes
# (metrics, dask, the example scripts and notebook, the docs site, packaging
# and tier checks); the boosting libraries are not built for ASan.
SANITIZE_SKIP = test_metrics.py test_metric_states.py test_examples.py test_notebooks.py \
	test_docs_site.py test_package.py test_tiers.py

# -W --keep-going: every warning is an error, and all of them are reported at once.
# -P keeps the current directory off sys.path, so that autodoc documents the
# installed pylossfn, not the source tree (which has no extension in a fresh clone).
SPHINXBUILD ?= $(PYTHON) -P -m sphinx
SPHINXOPTS ?= -W --keep-going
docs:
	$(SPHINXBUILD) $(SPHINXOPTS) -b html docs docs/_build/html
	$(SPHINXBUILD) $(SPHINXOPTS) -b doctest docs docs/_build/doctest

docs-browser:
	$(PYTHON) tools/check_site.py --html docs/_build/html --out docs/_build/browser

clean:
	rm -rf build tests/c/build fuzz/build pylossfn/*.so docs/_build docs/api/generated docs/examples
