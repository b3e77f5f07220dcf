"""Checks of the environment: Python, this package, settings, torch and CUDA, the device, the
tree-sitter grammars and the cache folder."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import sdsat_lsp
from sdsat_lsp.config import Settings
from sdsat_lsp.doctor import Check
from sdsat_lsp.model.paths import cache_dir, registry_location

MIN_PYTHON = (3, 11)
GPU_SET_UP = "README, GPU set-up"


def python_check() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    summary = f"Python {version} at {sys.executable}"
    if sys.version_info[:2] < MIN_PYTHON:
        return Check("python", "fail", summary, "install sdsat-lsp into Python 3.11 or newer")
    return Check("python", "ok", summary, details={"executable": sys.executable})


def package_check() -> Check:
    registry, origin = registry_location()
    where = Path(sdsat_lsp.__file__).parent
    summary = f"sdsat-lsp {sdsat_lsp.__version__} in {where}; registry {registry} ({origin})"
    return Check("sdsat-lsp", "ok", summary, details={"registry": str(registry)})


def settings_check(settings: Settings, problems: list[str]) -> Check:
    summary = (
        f"model={settings.model} device={settings.device} dtype={settings.dtype} "
        f"strategy={settings.strategy} forwardPath={settings.forward_path}"
    )
    if problems:
        fix = "correct these settings (the server ignores them too): " + "; ".join(problems)
        return Check("settings", "fail", summary, fix)
    return Check("settings", "ok", summary)


def torch_check() -> Check:
    try:
        import torch
    except ImportError as error:
        fix = "install torch into this Python: `pip install torch` (CPU) or see " + GPU_SET_UP
        return Check("torch", "fail", f"torch does not import: {error}", fix)
    build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU build"
    return Check("torch", "ok", f"torch {torch.__version__} ({build})")


def nvidia_gpu_present() -> bool:
    """An NVIDIA GPU and driver on this machine, whatever torch says."""
    gpus = Path("/proc/driver/nvidia/gpus")
    return (gpus.is_dir() and any(gpus.iterdir())) or Path("/dev/nvidia0").exists()


def cuda_check() -> Check:
    import torch

    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        memory = torch.cuda.get_device_properties(0).total_memory / 2**30
        summary = f"CUDA GPU visible: {name} ({memory:.0f} GiB)"
        return Check("cuda", "ok", summary, "completions run there in bfloat16/float16")
    if nvidia_gpu_present():
        if torch.version.cuda is None:
            summary = "an NVIDIA GPU is here, but this torch is a CPU build: the CPU does all work"
            fix = f"install a CUDA build of torch into this Python ({GPU_SET_UP})"
        else:
            summary = f"torch (CUDA {torch.version.cuda}) sees no GPU, though one is installed"
            fix = "check the driver (`nvidia-smi`) and CUDA_VISIBLE_DEVICES"
        return Check("cuda", "fail", summary, fix)
    summary = "no CUDA GPU: the model runs on the CPU"
    why = "fine for the default 135M model; the CodeLlama-SDSAT models need a GPU"
    return Check("cuda", "info", summary, why)


def device_check(settings: Settings) -> Check:
    from sdsat_lsp.model.loading import ModelLoadError, choose_device

    try:
        device, dtype, reason = choose_device(settings.device, settings.dtype)
    except ModelLoadError as error:
        return Check("device", "fail", str(error), "set `device` to auto or cpu")
    name = str(dtype).removeprefix("torch.")
    return Check("device", "ok", f"{device}, {name}: {reason}")


def grammars_check() -> Check:
    from sdsat_lsp.context.languages import SPECS, parser_for

    loaded, failed, packages = [], [], set()
    for language, spec in SPECS.items():
        try:
            parser_for(language).parse(b"x\n")
            loaded.append(language)
        except Exception as error:  # a missing or ABI-incompatible grammar package
            module = spec.grammar[0] if spec.grammar else language
            failed.append(f"{language} ({error})")
            packages.add(module.replace("_", "-"))
    if failed:
        fix = f"`{sys.executable} -m pip install --force-reinstall {' '.join(sorted(packages))}`"
        return Check("grammars", "fail", "grammars that do not load: " + ", ".join(failed), fix)
    return Check("grammars", "ok", f"{len(loaded)} tree-sitter grammars load: {', '.join(loaded)}")


def cache_check() -> Check:
    folder = cache_dir()
    fix = "make it writable, or point $SDSAT_LSP_CACHE at a writable folder"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-"):
            pass
    except OSError as error:
        return Check("cache", "fail", f"cache folder {folder} is not writable: {error}", fix)
    free = shutil.disk_usage(folder).free / 2**30
    source = "$SDSAT_LSP_CACHE" if os.environ.get("SDSAT_LSP_CACHE") else "default"
    return Check("cache", "ok", f"{folder} ({source}) is writable, {free:.1f} GiB free")
