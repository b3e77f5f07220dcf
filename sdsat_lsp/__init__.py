"""sdsat-lsp: local inline code completion with SDSAT speculative decoding.

Packages, imports one way: commands → server, bench, training → pipeline → context, engine →
model → config (docs/design.md has the layers and the data flow).
"""

__version__ = "0.1.0"
