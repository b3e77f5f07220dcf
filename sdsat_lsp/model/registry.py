"""The model registry: one small TOML file per known model under `models/`.

A `ModelSpec` says where the weights come from and which special token ids the engine needs
(FIM, EOS/EOT, SAT). A local model directory may carry its own `sdsat-model.toml` with the same
keys; unknown directories get a spec derived from their tokenizer plus CLI overrides.
`sdsat-lsp models` (sdsat_lsp/commands/models.py) lists the registry.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sdsat_lsp.config import PROMPT_PIECES, QuantizationName, StrategyName
from sdsat_lsp.model.paths import models_cache_dir, registry_dir, registry_restore_command

FimTemplate = Literal["none", "psm", "spm"]
Source = Literal["hf-dir", "pypi-gguf", "local"]
# a weight format, or "measure": timed on each machine (engine/forward/host_choice.py)
CpuQuantize = Literal[QuantizationName, "measure"]
LOCAL_SPEC_FILE = "sdsat-model.toml"


class RegistryError(ValueError):
    """A registry file is malformed; the message names the file and the key, and `repair` (when
    known) the command that restores the file."""

    def __init__(self, problem: str, repair: str = "") -> None:
        super().__init__(f"{problem}; fix it or restore it: `{repair}`" if repair else problem)
        self.problem = problem
        self.repair = repair


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str = "llama"
    architecture: str = "LlamaForCausalLM"
    description: str = ""
    source: Source = "local"
    hf_repo: str = ""
    pypi_package: str = ""
    gguf_file: str = ""
    fim_template: FimTemplate = "none"
    fim_prefix_id: int | None = None
    fim_suffix_id: int | None = None
    fim_middle_id: int | None = None
    eot_id: int | None = None
    eos_ids: tuple[int, ...] = ()
    sat_id: int | None = None
    trained_k: int = 0
    recommended_k: int = 4
    cpu_strategy: StrategyName = "lookup"
    # Forward passes on CPU, measured with `sdsat-lsp bench decode` (docs/benchmarks.md): the
    # weight format ("measure": timed on each machine at first load), whether compiling pays
    # for itself, and threads (0 = torch's default).
    cpu_quantize: CpuQuantize = "none"
    cpu_compile: bool = False
    cpu_threads: int = 0
    # a `sdsat-lsp train` artifact (folder relative to the registry) applied when loading by
    # name; its sdsat.json supplies sat_id, trained_k and recommended_k
    sat_adapter: str = ""
    # The optional prompt pieces this model gets besides the prefix window (config.PROMPT_PIECES;
    # all by default): a small model measured better with the window alone (docs/quality.md).
    prompt_pieces: tuple[str, ...] = PROMPT_PIECES

    @property
    def has_fim(self) -> bool:
        return self.fim_template != "none"

    @property
    def sat_trained(self) -> bool:
        return self.sat_id is not None and self.trained_k > 0

    def stop_ids(self) -> frozenset[int]:
        ids = set(self.eos_ids)
        if self.eot_id is not None:
            ids.add(self.eot_id)
        return frozenset(ids)

    def sat_adapter_path(self) -> Path | None:
        return registry_dir() / self.sat_adapter if self.sat_adapter else None

    def cache_path(self) -> Path:
        """Where this model's weights live when fetched or downloaded by the user."""
        return models_cache_dir() / self.name


_FIELDS = {f.name: f for f in dataclasses.fields(ModelSpec)}


def spec_from_mapping(data: dict[str, Any], origin: str) -> ModelSpec:
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        guesses = [difflib.get_close_matches(key, _FIELDS, n=1) for key in unknown]
        hints = [
            f"{key} (did you mean {guess[0]}?)" if guess else key
            for key, guess in zip(unknown, guesses, strict=True)
        ]
        raise RegistryError(f"{origin}: unknown keys {', '.join(hints)}")
    if "name" not in data:
        raise RegistryError(f"{origin}: missing 'name'")
    values = dict(data)
    if "eos_ids" in values:
        values["eos_ids"] = tuple(int(i) for i in values["eos_ids"])
    if "prompt_pieces" in values:
        pieces = values["prompt_pieces"]
        if not isinstance(pieces, list) or not set(pieces) <= set(PROMPT_PIECES):
            raise RegistryError(
                f"{origin}: prompt_pieces must be a list of {', '.join(PROMPT_PIECES)} "
                f"(got {pieces!r}); [] is the prefix window alone"
            )
        values["prompt_pieces"] = tuple(p for p in PROMPT_PIECES if p in pieces)
    spec = ModelSpec(**values)
    if spec.fim_template not in ("none", "psm", "spm"):
        raise RegistryError(f"{origin}: fim_template must be none, psm or spm")
    if spec.has_fim and None in (spec.fim_prefix_id, spec.fim_suffix_id, spec.fim_middle_id):
        raise RegistryError(f"{origin}: a FIM template needs fim_prefix/suffix/middle_id")
    return spec


def read_spec_file(path: Path) -> ModelSpec:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise RegistryError(f"{path}: {error}") from error
    return spec_from_mapping(data, str(path))


def load_registry(directory: Path | None = None) -> dict[str, ModelSpec]:
    """Every spec of the registry; one broken file fails the whole registry, with a message
    that names the file and how to restore it (a silently missing model would be worse)."""
    directory = directory or registry_dir()
    specs: dict[str, ModelSpec] = {}
    for path in sorted(directory.glob("*.toml")):
        try:
            spec = read_spec_file(path)
        except RegistryError as error:
            raise RegistryError(error.problem, registry_restore_command(path)) from error
        specs[spec.name] = spec
    return specs


def find_spec(name: str) -> ModelSpec | None:
    return load_registry().get(name)


def spec_for_hf_repo_dir(directory: Path) -> ModelSpec | None:
    """A registry entry whose Hugging Face repo name matches the directory's name."""
    for spec in load_registry().values():
        if spec.hf_repo and spec.hf_repo.split("/")[-1].lower() == directory.name.lower():
            return spec
    return None
