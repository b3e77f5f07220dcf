"""sdsat-lsp: local inline code completion with SDSAT speculative decoding.

Packages, imports one way: server → context, engine → model (see shared DESIGN).
"""

__version__ = "0.1.0"
