"""sdsat-lsp: local inline code completion with SDSAT speculative decoding.

Packages, imports one way: commands → server, bench, training → pipeline → context, engine →
model → config (docs/design.md has the layers and the data flow).
"""

import os

# Before torch's MKL first runs (here, because every entry point imports this package first):
# MKL's strict reproducible mode makes its GEMMs give the same bits at any thread count. Why:
# `threads: 0` changes the count between passes with the machine's load, and by default MKL
# splits the sum over K across threads for some shapes (7 of 96 prefill-like float32 shapes
# here), so a prefill on 1 thread wrote other cache bits than on 2 and a near-tie in the bf16
# decode flipped: the same prompt completed differently under load, and a drafting strategy
# left `ar`. AUTO keeps MKL's best code path for the CPU; cost not measurable on the prefill.
os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")

__version__ = "0.1.0"
