"""Benchmarks behind `sdsat-lsp bench`: decoding speed, LSP latency, prompt building, stop rules.

`decode` compares our strategies with in-process peers (transformers) and llama.cpp on the
same prompts in one run; `lsp_replay` replays recorded typing against the real server over
stdio, `back_to_back` types without debounce; `context.bench` (in the context package) times
tree-sitter prompt building; `stop_rules` measures the stop rules on the default model;
`gpu_shape` checks pass cost and equivalence on a 7B-shaped model. Results go to `results/`
(ignored by git); the published tables live in docs/benchmarks.md with their commands.
"""

from pathlib import Path

RESULTS = Path("results")  # where every benchmark writes, unless --output says otherwise
