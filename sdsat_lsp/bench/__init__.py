"""Benchmarks behind `sdsat-lsp bench`: decoding speed, LSP latency, prompt building.

`decode` compares our strategies with in-process peers (transformers) and llama.cpp on the
same prompts in one run; `lsp` replays recorded typing against the real server over stdio;
`context` times tree-sitter prompt building. Results go to `results/` (ignored by git); the
published tables live in docs/benchmarks.md with the commands that produced them.
"""
