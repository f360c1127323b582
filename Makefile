# pmc: the two entry points a new user needs are `make demo` and `make test`.
# Both install what is missing, build, then run.

BUILD_DIR ?= build
PYTHON ?= python3
JOBS ?= $(shell nproc)
# Debian packages the build and the tests need.
APT_PACKAGES := cmake ninja-build ccache g++ llvm-22-dev libmlir-22-dev mlir-22-tools \
  llvm-22-tools libonnx-dev libprotobuf-dev protobuf-compiler libopenblas-dev \
  libopenmpi-dev openmpi-bin libonnx-testdata nlohmann-json3-dev zlib1g-dev \
  libgtest-dev clang-22 libclang-rt-22-dev
# ccache hits across clones: paths are made relative to the source folder.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := true

.PHONY: all deps build test test-lit test-python test-conformance demo bench clean \
  gpu-bundles test-gpu bench-gpu-prepare bench-gpu build-asan test-asan fuzz test-plans

all: build

deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi
	@$(PYTHON) tools/check_requirements.py requirements.txt || \
	  $(PYTHON) -m pip install -q --disable-pip-version-check -r requirements.txt

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release \
	  -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir -DPython_EXECUTABLE=$$(command -v $(PYTHON))

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build build-asan
	$(PYTHON) tools/run_tests.py --build-dir $(BUILD_DIR) --asan-build-dir $(ASAN_BUILD_DIR) \
	  --fuzz-seconds $(FUZZ_SECONDS)

# The sanitizer build (test/fuzz/README.md): clang, ASan + UBSan (a report
# stops the process), libFuzzer coverage and the fuzzers of test/fuzz, in its
# own folder; through ccache like the main build. `make test-asan` runs the
# unit tests, lit and the ONNX conformance cases there, failing on any
# sanitizer report; `make fuzz FUZZ_SECONDS=60` runs each fuzzer that long on
# a copy of its seed corpus (crash inputs: $(ASAN_BUILD_DIR)/fuzz/*/crashes/).
ASAN_BUILD_DIR ?= build-asan
FUZZ_SECONDS ?= 60
$(ASAN_BUILD_DIR)/build.ninja:
	cmake -S . -B $(ASAN_BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
	  -DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 \
	  -DPMC_SANITIZE=address,undefined -DPMC_FUZZ=ON -DPMC_PYTHON=OFF \
	  -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir -DPython_EXECUTABLE=$$(command -v $(PYTHON))

build-asan: deps $(ASAN_BUILD_DIR)/build.ninja
	cmake --build $(ASAN_BUILD_DIR) -j $(JOBS)

test-asan: build-asan
	$(PYTHON) tools/run_tests.py --only asan --asan-build-dir $(ASAN_BUILD_DIR)

fuzz: build-asan
	$(PYTHON) tools/run_fuzzers.py --build-dir $(ASAN_BUILD_DIR) --seconds $(FUZZ_SECONDS)

# Differential plan tests (test/plans/run_plans.py): COUNT random legal plans
# over the model corpus, each against one device; failures are shrunk and saved.
SEED ?= 1
COUNT ?= 1000
FAMILIES ?= ops,zoo,light,pytorch-converted,pytorch-operator,exported
test-plans: build
	$(PYTHON) test/plans/run_plans.py --build-dir $(BUILD_DIR) --seed $(SEED) \
	  --count $(COUNT) --families $(FAMILIES) --jobs $(JOBS)

demo: build
	PYTHONPATH=$(BUILD_DIR)/python $(PYTHON) examples/demo.py --build-dir $(BUILD_DIR)

bench: build
	$(PYTHON) -m pip install --quiet -r bench/requirements.txt
	PYTHONPATH=$(BUILD_DIR)/python $(PYTHON) bench/cpu_vs_onnxruntime.py
	PYTHONPATH=$(BUILD_DIR)/python $(PYTHON) bench/planner.py --build-dir $(BUILD_DIR) --csv $(BUILD_DIR)/planner.csv --png $(BUILD_DIR)/planner.png

# The GPU check (tools/gpu_check.py, docs/user-guide.md "Running on GPUs"):
# `make gpu-bundles` here (compiler, onnx, onnxruntime; no GPU) writes a
# self-contained $(GPU_CHECK_DIR): CUDA bundles of the zoo (1 device, and 4 run
# with --virtual-ranks; fp32, bf16, fp16), a pipeline, one-rank NCCL runs and the
# ONNX node tests, with expected outputs; its README.md lists what to carry.
# `make test-gpu` on a GPU machine needs only $(BUILD_DIR)/bin/pmc-run, the
# libraries ldd lists for it, numpy and that folder. gpu_check.py exits 77 when
# there is no GPU (nothing ran; make then reports "Error 77"), 1 on a failure.
GPU_CHECK_DIR ?= $(BUILD_DIR)/gpu-check
gpu-bundles: build
	$(PYTHON) tools/gpu_check.py prepare --build-dir $(BUILD_DIR) --out $(GPU_CHECK_DIR) \
	  --jobs $(JOBS)

test-gpu:
	@test -f $(GPU_CHECK_DIR)/manifest.json || \
	  { echo "error: $(GPU_CHECK_DIR) is missing: run 'make gpu-bundles' first"; exit 2; }
	$(PYTHON) $(GPU_CHECK_DIR)/gpu_check.py run --dir $(GPU_CHECK_DIR) \
	  --pmc-run $(BUILD_DIR)/bin/pmc-run --json $(GPU_CHECK_DIR)/results.json

# pmc vs PyTorch on a GPU: bf16 bundles prepared here, timed there with the pmc
# Python runtime module (build/python) and torch when installed (bench/gpu.py).
GPU_BENCH_DIR ?= $(BUILD_DIR)/gpu-bench
bench-gpu-prepare: build
	$(PYTHON) bench/gpu.py --prepare --build-dir $(BUILD_DIR) --dir $(GPU_BENCH_DIR)

bench-gpu:
	PYTHONPATH=$(BUILD_DIR)/python $(PYTHON) bench/gpu.py --dir $(GPU_BENCH_DIR) \
	  --pmc-run $(BUILD_DIR)/bin/pmc-run

clean:
	rm -rf $(BUILD_DIR)
