"""Model loading: registry specs, the default model's fetch, device/dtype choice, weights.

Knows nothing of decoding or LSP.
"""

from sdsat_lsp.model.loading import LoadedModel, ModelLoadError, load_model
from sdsat_lsp.model.registry import ModelSpec, find_spec, load_registry

__all__ = ["LoadedModel", "ModelLoadError", "ModelSpec", "find_spec", "load_model", "load_registry"]
