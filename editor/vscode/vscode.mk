# VS Code extension targets, included from the top Makefile (paths relative to the repository root;
# uses its `setup` target and $(PY) / $(SDSAT)).
#   make vscode-build   npm ci, compile (type-check), lint, unit tests (node:test), then package
#                       out/sdsat-lsp.vsix: the esbuild bundle dist/extension.js, manifest,
#                       README, LICENSE and icon (tests/vscode/test_vsix.py checks it)
#   make vscode-e2e     the real-editor run: code-server 4.100.3 + Chromium + the real server;
#                       VSCODE_E2E_SCENARIO=alternatives: sampling, a manual trigger, cycling
#                       the "1/3" suggestions with Alt+] / Alt+[, Tab accepts the one shown
VSCODE_DIR := editor/vscode
VSCODE_VSIX := $(VSCODE_DIR)/out/sdsat-lsp.vsix
# "tiny": a random tiny Llama built for the run (no download); or a registry name / model
# directory, e.g. VSCODE_E2E_MODEL=smollm2-135m after `make fetch-model`.
VSCODE_E2E_MODEL ?= tiny
VSCODE_E2E_RESULTS ?= results/vscode-e2e
VSCODE_E2E_KEYSTROKES ?= 25
VSCODE_E2E_SCENARIO ?= typing

.PHONY: vscode-build vscode-e2e

$(VSCODE_DIR)/node_modules/.installed: $(VSCODE_DIR)/package-lock.json
	cd $(VSCODE_DIR) && npm ci --no-audit --no-fund
	touch $@

vscode-build: setup $(VSCODE_DIR)/node_modules/.installed
	cd $(VSCODE_DIR) && npm run compile && npm run lint
	cd $(VSCODE_DIR) && SDSAT_LSP=$(abspath $(SDSAT)) npm test
	cd $(VSCODE_DIR) && npm run package

vscode-e2e: vscode-build
	bash $(VSCODE_DIR)/e2e/setup.sh
	mkdir -p $(VSCODE_E2E_RESULTS)
	@model="$(VSCODE_E2E_MODEL)"; \
	if [ "$$model" = tiny ]; then \
	  model=$(abspath $(VSCODE_E2E_RESULTS))/tiny-model; \
	  $(PY) tests/tiny_model.py "$$model" >/dev/null 2>&1; \
	fi; \
	set -x; node $(VSCODE_DIR)/e2e/run.mjs --vsix $(VSCODE_VSIX) --server $(abspath $(SDSAT)) \
	  --model "$$model" --results $(VSCODE_E2E_RESULTS) --keystrokes $(VSCODE_E2E_KEYSTROKES) \
	  --scenario $(VSCODE_E2E_SCENARIO)
