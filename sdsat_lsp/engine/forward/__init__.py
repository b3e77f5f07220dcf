"""How one forward pass runs. The decoder asks for passes; this package decides what they cost.

`ForwardPasses` (passes.py) is the interface the decoder calls: feed tokens at given positions
under a mask, get the argmax at the rows it reads, with a KV cache that has verbs. Two
implementations:

- `StaticPasses` (static_passes.py): the fast path for Llama-family models. Weights are read
  out of the loaded model once (optionally quantized to int8/int4, quantize.py), the KV cache is
  preallocated (crop = move a length), every pass has one of a few fixed shapes (padded), and
  each shape is compiled by inductor (CPU) or captured as a CUDA graph (GPU) once at load.
  Its passes are llama.py's plain tensor code, or on CPU with low-bit weights row_exact.py's
  (every row of a wide pass with the bits of its 1-row pass, in few torch calls).
- `TransformersPasses` (transformers_passes.py): transformers' own eager forward with a
  DynamicCache: any causal LM, the reference the fast path is tested against.

Nothing here knows of strategies, text or LSP.
"""
