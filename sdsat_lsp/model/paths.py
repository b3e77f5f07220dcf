"""Where things live on disk: the user cache, the model registry folder, artifact file names."""

from __future__ import annotations

import os
import sys
from importlib import resources
from pathlib import Path
from typing import Literal

# The files of an SDSAT artifact directory (`sdsat-lsp train` output): metadata and adapter.
ARTIFACT_FILE = "sdsat.json"
ADAPTER_FILE = "sat_adapter.safetensors"

RegistryOrigin = Literal["SDSAT_LSP_MODELS", "installed", "checkout"]
CHECKOUT = Path(__file__).resolve().parents[2]


def cache_dir() -> Path:
    """`$SDSAT_LSP_CACHE`, else `$XDG_CACHE_HOME/sdsat-lsp`, else `~/.cache/sdsat-lsp`."""
    explicit = os.environ.get("SDSAT_LSP_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "sdsat-lsp"


def models_cache_dir() -> Path:
    return cache_dir() / "models"


def registry_location() -> tuple[Path, RegistryOrigin]:
    """`$SDSAT_LSP_MODELS`, else the registry installed with the package, else the `models/`
    folder of this checkout (an editable install, where the build's mapping does not apply)."""
    explicit = os.environ.get("SDSAT_LSP_MODELS")
    if explicit:
        return Path(explicit).expanduser(), "SDSAT_LSP_MODELS"
    installed = resources.files("sdsat_lsp") / "_models"  # the wheel maps models/ here
    if isinstance(installed, Path) and installed.is_dir():
        return installed, "installed"
    return CHECKOUT / "models", "checkout"


def registry_dir() -> Path:
    return registry_location()[0]


def registry_restore_command(path: Path) -> str:
    """How to get a registry file (or a shipped adapter) back as released."""
    _, origin = registry_location()
    if origin == "installed":
        return f"{sys.executable} -m pip install --force-reinstall --no-deps sdsat-lsp"
    if origin == "checkout":
        try:
            return f"git -C {CHECKOUT} checkout -- {path.resolve().relative_to(CHECKOUT)}"
        except ValueError:
            pass
    return f"edit {path}"  # the user's own registry ($SDSAT_LSP_MODELS)
