"""Completion quality on held-out code: `sdsat-lsp bench quality` (see run.py)."""
