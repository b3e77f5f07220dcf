"""Where things live on disk: the user cache, the model registry folder, artifact file names."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

# The metadata file of an SDSAT artifact directory (`sdsat-lsp train` output).
ARTIFACT_FILE = "sdsat.json"


def cache_dir() -> Path:
    """`$SDSAT_LSP_CACHE`, else `$XDG_CACHE_HOME/sdsat-lsp`, else `~/.cache/sdsat-lsp`."""
    explicit = os.environ.get("SDSAT_LSP_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "sdsat-lsp"


def models_cache_dir() -> Path:
    return cache_dir() / "models"


def registry_dir() -> Path:
    """`$SDSAT_LSP_MODELS`, else the registry installed with the package, else the `models/`
    folder of this checkout (an editable install, where the build's mapping does not apply)."""
    explicit = os.environ.get("SDSAT_LSP_MODELS")
    if explicit:
        return Path(explicit).expanduser()
    installed = resources.files("sdsat_lsp") / "_models"  # the wheel maps models/ here
    if isinstance(installed, Path) and installed.is_dir():
        return installed
    return Path(__file__).resolve().parents[2] / "models"
