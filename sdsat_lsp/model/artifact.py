"""The on-disk SDSAT artifact (`sdsat.json` + safetensors) and how it makes a model SAT-capable.

An artifact directory holds:

- `sdsat.json`: format version, base model (registry name or path), mode, SAT id and token,
  trained and recommended k, adapter shape, data summary, resolved training config, evaluation.
- `sat_adapter.safetensors`: the SAT embedding (`sat_embedding`, shape (hidden,)) and, in the
  sat-adapter mode, LoRA pairs `lora.<module/path>.lora_a` (r, in) and `.lora_b` (out, r).
- full mode only: a complete Hugging Face model (`config.json`, `model.safetensors`, tokenizer)
  in the same directory, which replaces the base weights.

`apply_artifact(model, directory)` hooks the adapter into a loaded base model (see
`sat_adapter.py`): ordinary tokens compute exactly as the base, SAT positions (input_ids ==
sat_id) use the trained parameters. Loading the base itself is the model loader's job:
`weights_source(directory)` says where its weights are.

Nothing here trains, decodes or reaches the network; weights are read with safetensors only.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from sdsat_lsp.model.paths import ADAPTER_FILE, ARTIFACT_FILE
from sdsat_lsp.model.sat_adapter import SatAdapter, attach_sat_adapter, attached_adapter

FORMAT = "sdsat-artifact"
FORMAT_VERSION = 1
MODES = ("full", "sat-adapter", "sat-embedding")


class ArtifactError(ValueError):
    """A missing, malformed or mismatched SDSAT artifact; the message names the file and field."""


@dataclass(frozen=True)
class SdsatArtifact:
    """The contents of `sdsat.json`."""

    base: str  # registry name or path of the base model the adapter was trained on
    mode: str  # full | sat-adapter | sat-embedding
    sat_id: int
    trained_k: int
    recommended_k: int
    sat_token: str = ""
    sat_token_added: bool = False  # a new id (may lie beyond the vocabulary; input only)
    vocab_size: int = 0  # embedding rows of the base model
    hidden_size: int = 0
    lora_rank: int = 0
    lora_alpha: float = 0.0
    full_weights: bool = False  # full mode: this directory is itself a HF model
    step: int = 0
    data: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    @property
    def exact(self) -> bool:
        """Ordinary tokens compute exactly as the base model."""
        return self.mode != "full"


def is_artifact(directory: Path | str) -> bool:
    return (Path(directory) / ARTIFACT_FILE).is_file()


def read_artifact(directory: Path | str) -> SdsatArtifact:
    path = Path(directory) / ARTIFACT_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ArtifactError(f"{path}: not found (not an SDSAT artifact directory)") from error
    except (OSError, json.JSONDecodeError) as error:
        raise ArtifactError(f"{path}: unreadable: {error}") from error
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ArtifactError(f"{path}: 'format' must be {FORMAT!r}")
    if raw.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(f"{path}: unsupported format_version {raw.get('format_version')!r}")
    known = SdsatArtifact.__dataclass_fields__
    try:
        artifact = SdsatArtifact(**{key: value for key, value in raw.items() if key in known})
    except TypeError as error:
        raise ArtifactError(f"{path}: {error}") from error
    if artifact.mode not in MODES:
        raise ArtifactError(f"{path}: 'mode' must be one of {MODES}, not {artifact.mode!r}")
    if artifact.trained_k <= 0 or artifact.recommended_k <= 0:
        raise ArtifactError(f"{path}: 'trained_k' and 'recommended_k' must be positive")
    if not isinstance(artifact.sat_id, int) or artifact.sat_id < 0:
        raise ArtifactError(f"{path}: 'sat_id' must be a non-negative integer")
    return artifact


def weights_source(directory: Path | str) -> str:
    """Where the model loader finds the base weights: this directory (full mode) or `base`."""
    artifact = read_artifact(directory)
    return str(Path(directory).resolve()) if artifact.full_weights else artifact.base


def write_artifact(
    directory: Path | str,
    artifact: SdsatArtifact,
    adapter: SatAdapter,
    *,
    model: Any = None,
    tokenizer: Any = None,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write `sdsat.json` and the adapter (in `dtype` if given); in full mode also the model.

    Files are written to temporary names and renamed, so a reader never sees half an artifact.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if artifact.full_weights:
        if model is None:
            raise ArtifactError("a full-mode artifact needs the fine-tuned model to save")
        model.save_pretrained(directory, safe_serialization=True)
        if tokenizer is not None:
            tokenizer.save_pretrained(directory)
    tensors = {
        name: tensor.detach().to("cpu", dtype or tensor.dtype).contiguous()
        for name, tensor in adapter.state_dict().items()
    }
    temporary = directory / f".{ADAPTER_FILE}.tmp"
    save_file(tensors, str(temporary), metadata={"format": FORMAT})
    os.replace(temporary, directory / ADAPTER_FILE)
    temporary = directory / f".{ARTIFACT_FILE}.tmp"
    temporary.write_text(json.dumps(asdict(artifact), indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, directory / ARTIFACT_FILE)
    return directory


def load_adapter(directory: Path | str, artifact: SdsatArtifact | None = None) -> SatAdapter:
    """The adapter stored in `directory`, on CPU in float32."""
    directory = Path(directory)
    artifact = artifact or read_artifact(directory)
    path = directory / ADAPTER_FILE
    try:
        tensors = load_file(str(path))
    except (OSError, ValueError) as error:
        raise ArtifactError(f"{path}: unreadable: {error}") from error
    if "sat_embedding" not in tensors:
        raise ArtifactError(f"{path}: no 'sat_embedding' tensor")
    shapes: dict[str, tuple[int, int]] = {}
    for name, tensor in tensors.items():
        if name.startswith("lora.") and name.endswith(".lora_a"):
            key = name[len("lora.") : -len(".lora_a")]
            out_features = tensors[f"lora.{key}.lora_b"].shape[0]
            shapes[key] = (tensor.shape[1], out_features)
    adapter = SatAdapter(
        artifact.sat_id,
        tensors["sat_embedding"].float(),
        shapes,
        rank=artifact.lora_rank,
        alpha=artifact.lora_alpha,
    )
    try:
        adapter.load_state_dict({name: tensor.float() for name, tensor in tensors.items()})
    except RuntimeError as error:
        raise ArtifactError(f"{path}: does not match sdsat.json: {error}") from error
    return adapter


def apply_artifact(model: Any, directory: Path | str) -> Any:
    """Make a loaded base model SAT-capable with the artifact in `directory`; returns `model`.

    Afterwards `model(input_ids=..., past_key_values=..., use_cache=True)` works as before;
    positions whose input id is the SAT id use the trained embedding and adapter. A SAT id
    beyond the vocabulary (`sat_token_added`) is accepted as input only; no weight is resized,
    so the logits keep the base's width. Raises `ArtifactError` when the model does not match.
    """
    artifact = read_artifact(directory)
    adapter = load_adapter(directory, artifact)
    embedding = model.get_input_embeddings()
    rows, hidden = embedding.weight.shape
    if adapter.sat_embedding.shape != (hidden,):
        raise ArtifactError(
            f"{directory}: SAT embedding has shape {tuple(adapter.sat_embedding.shape)}, "
            f"the model's hidden size is {hidden}"
        )
    if artifact.sat_id >= rows and not artifact.sat_token_added:
        raise ArtifactError(
            f"{directory}: SAT id {artifact.sat_id} is outside the vocabulary ({rows})"
        )
    if attached_adapter(model) is not None:
        raise ArtifactError("this model already has an SDSAT artifact applied")
    attach_sat_adapter(model, adapter)
    return model


def read_artifact_spec(directory: Path | str, spec: Any) -> Any:
    """The base model's `ModelSpec` with the artifact's SAT id, trained k and recommended k."""
    import dataclasses

    artifact = read_artifact(directory)
    return dataclasses.replace(
        spec,
        name=Path(directory).resolve().name,
        sat_id=artifact.sat_id,
        trained_k=artifact.trained_k,
        recommended_k=artifact.recommended_k,
    )
