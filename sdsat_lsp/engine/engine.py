"""The Engine: one loaded model, its prefix KV cache, prompt encoding and strategy choice.

Use an Engine from one thread only (see `worker.py`). It knows nothing of LSP or tree-sitter:
it takes prompt text pieces and returns a streaming `Generation`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sdsat_lsp.config import (
    PROMPT_PIECES,
    SAT_STRATEGIES,
    STRATEGIES,
    SamplingParams,
    Settings,
    StrategyName,
)
from sdsat_lsp.engine.batched_sampling import BatchedSamples
from sdsat_lsp.engine.forward.select import build_passes, choose_forward
from sdsat_lsp.engine.generation import Generation, GenerationRequest, StopCheck
from sdsat_lsp.engine.kv_cache import CachedIds
from sdsat_lsp.model import LoadedModel, ModelSpec, load_model

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

INFILL_MARKER = "☺"  # encoded before a FIM suffix and dropped, as CodeLlama's own tokenizer does


class StrategyError(ValueError):
    """The requested strategy cannot run on this model (e.g. sdsat without a SAT token)."""


@dataclass(frozen=True)
class EngineInfo:
    model_name: str
    device: str
    dtype: str
    strategy: StrategyName
    k: int
    fim: bool
    device_reason: str
    strategy_reason: str
    forward: str = ""  # what runs the passes and why (engine/forward/select.py)
    prompt_pieces: tuple[str, ...] = PROMPT_PIECES  # the registry entry's


def resolve_strategy(
    requested: str, k_requested: int, spec: ModelSpec, device_type: str
) -> tuple[StrategyName, int, str]:
    """Turn `auto` and `k=0` into a concrete strategy and k, with the reason.

    Rule (docs/benchmarks.md has the measurements behind it): on a GPU extra tokens per pass
    are nearly free, so a SAT-trained model uses `sdsat-tree` (one pass per round, a SAT group
    after every candidate prefix) and any other model `lookup`; on a CPU
    a pass with more tokens costs more, so each registry entry names the strategy measured
    fastest there (`cpu_strategy`).
    """
    if requested == "auto":
        if device_type == "cuda":
            strategy: StrategyName = "sdsat-tree" if spec.sat_trained else "lookup"
            reason = "GPU: " + ("SAT-trained model" if spec.sat_trained else "no SAT training")
        else:
            strategy = spec.cpu_strategy
            if strategy in SAT_STRATEGIES and not spec.sat_trained:
                strategy = "lookup"
            reason = f"CPU: {strategy} measured fastest for {spec.name}"
    elif requested in STRATEGIES:
        strategy = requested
        reason = "set in settings"
    else:
        raise StrategyError(f"unknown strategy {requested!r}")
    if strategy in SAT_STRATEGIES and spec.sat_id is None:
        raise StrategyError(
            f"strategy {strategy!r} needs a SAT token: {spec.name} has none "
            "(train one with `sdsat-lsp train`, or pass --sat-token-id)"
        )
    if k_requested > 0:
        k = k_requested
    elif strategy in SAT_STRATEGIES and spec.trained_k > 0:
        k = spec.trained_k
    else:
        k = spec.recommended_k
    return strategy, k, reason


def passes_reason(loading_reason: str, weights: torch.dtype, passes: torch.dtype) -> str:
    """The loading reason names the weights' dtype; say so when the passes compute in another
    (bf16 activations with low-bit weights), or status reads "float32" beside "bfloat16"."""
    if passes == weights:
        return loading_reason
    computed = str(passes).removeprefix("torch.")
    return f"{loading_reason}; passes compute in {computed} (low-bit weights)"


def low_bit_strategy(
    strategy: StrategyName, reason: str, compiled: bool
) -> tuple[StrategyName, str]:
    """`auto` on low-bit CPU weights. Eager passes there are row-exact (every strategy equals
    `ar`, row_exact.py), but a wider pass attends row by row, so only `lookup` (no SAT pass of
    its own) measured level with `ar` or above (1.06x, on infilling points 1.09x; after the
    leaner row pass 0.97-0.99x per prompt, upper quartile 1.10-1.34x; `sdsat` 0.67x:
    docs/benchmarks.md). Compiled low-bit passes are not row-exact: `ar` there."""
    if strategy == "ar":
        return strategy, reason
    if compiled:
        return "ar", "CPU: ar (compiled low-bit passes: drafting would not be bit-exact)"
    if strategy == "lookup":
        return strategy, reason + " (low-bit weights: lookup measured at or above ar)"
    return "ar", f"CPU: ar (low-bit weights: {strategy} measured slower than ar)"


class Engine:
    def __init__(
        self,
        loaded: LoadedModel,
        settings: Settings,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        """Choose strategy and forward passes; compiles the pass shapes now if compiling."""
        self.loaded = loaded
        self.settings = settings
        spec = loaded.spec
        strategy, k, reason = resolve_strategy(
            settings.strategy, settings.k, spec, loaded.device.type
        )
        choice = choose_forward(loaded, settings, [(strategy, k)])
        options = choice.options
        if settings.strategy == "auto" and options is not None and options.quantize != "none":
            strategy, reason = low_bit_strategy(strategy, reason, compiled=options.compile)
        self.passes = build_passes(loaded, choice, progress)
        self.info = EngineInfo(
            model_name=spec.name,
            device=str(loaded.device),
            dtype=str(self.passes.dtype).removeprefix("torch."),
            strategy=strategy,
            k=k,
            fim=spec.has_fim,
            device_reason=passes_reason(loaded.device_reason, loaded.dtype, self.passes.dtype),
            strategy_reason=reason,
            forward=f"{self.passes.description} ({choice.reason})",
            prompt_pieces=spec.prompt_pieces,
        )
        tokenizer = loaded.tokenizer
        # Any special token (FIM markers, chat or file separators) ends a completion: its text
        # must never reach the editor, and greedy decoding past it leaves the code anyway.
        special = {i for i, token in tokenizer.added_tokens_decoder.items() if token.special}
        markers = {spec.fim_prefix_id, spec.fim_suffix_id, spec.fim_middle_id, spec.sat_id}
        special |= {i for i in markers if i is not None}
        self.stop_token_ids = spec.stop_ids() | special | set(tokenizer.all_special_ids)
        self._marker_ids = tokenizer.encode(INFILL_MARKER, add_special_tokens=False)
        bos = tokenizer.bos_token_id
        adds_bos = bos is not None and tokenizer.encode("a")[:1] == [bos]
        self._bos: list[int] = [bos] if adds_bos else []
        log.info("engine ready: %s", self.info)

    @classmethod
    def load(
        cls,
        settings: Settings,
        progress: Callable[[str], None] | None = None,
        fim_template: str | None = None,
    ) -> Engine:
        """Load `settings.model`; `fim_template` overrides the layout of an unknown model."""
        if progress:
            progress(f"loading {settings.model}")
        loaded = load_model(
            settings.model,
            device=settings.device,
            dtype=settings.dtype,
            sat_token_id=settings.sat_token_id if settings.sat_token_id >= 0 else None,
            fim_template=fim_template,
        )
        if progress:
            progress(f"loaded {loaded.spec.name} on {loaded.device}")
        return cls(loaded, settings, progress)

    # --- prompts -----------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        return len(self.loaded.tokenizer.encode(text, add_special_tokens=False))

    def _encode(self, text: str) -> list[int]:
        return list(self.loaded.tokenizer.encode(text, add_special_tokens=False))

    def _encode_infill(self, text: str) -> list[int]:
        """Encode without the SentencePiece word-start space (for text right after a FIM id)."""
        ids = self._encode(INFILL_MARKER + text)
        marker = self._marker_ids
        return ids[len(marker) :] if ids[: len(marker)] == marker else self._encode(text)

    def encode_prompt(self, prefix: str, suffix: str = "") -> list[int]:
        """Token ids for a completion at the cursor between `prefix` and `suffix`.

        SPM (suffix first) keeps the prefix at the end, so typing extends the cached prompt.
        """
        spec = self.loaded.spec
        if not spec.has_fim:
            ids = self._bos + self._encode(prefix)
        elif spec.fim_template == "spm":
            assert spec.fim_prefix_id is not None and spec.fim_suffix_id is not None
            assert spec.fim_middle_id is not None
            ids = [*self._bos, spec.fim_prefix_id, spec.fim_suffix_id]
            ids += [*self._encode_infill(suffix), spec.fim_middle_id, *self._encode(prefix)]
        else:
            assert spec.fim_prefix_id is not None and spec.fim_suffix_id is not None
            assert spec.fim_middle_id is not None
            ids = [*self._bos, spec.fim_prefix_id, *self._encode(prefix), spec.fim_suffix_id]
            ids += [*self._encode_infill(suffix), spec.fim_middle_id]
        if not ids:  # an empty file and no BOS: give the model something to start from
            ids = self._encode("\n")
        return ids

    # --- generation --------------------------------------------------------------------

    def generate(
        self,
        prompt_ids: Sequence[int],
        *,
        max_new_tokens: int,
        stop: StopCheck | None = None,
        cancelled: Callable[[], bool] = lambda: False,
        strategy: str | None = None,
        k: int | None = None,
        reuse_prefix: bool | None = None,
        sampling: SamplingParams | None = None,
        sample_stream: int = 0,
        starts_with: str = "",
    ) -> Generation:
        """A lazy, streaming generation; `strategy`/`k` override the engine's for one call.
        `sampling` None: greedy; else sampled (`sample_stream` numbers a request's
        alternatives so one seed gives each its own draws). `starts_with`: whitespace the
        text must start with before its code (the cursor's indentation, engine/lead.py)."""
        spec = self.loaded.spec
        if strategy is None or strategy == self.info.strategy:
            chosen, chosen_k = self.info.strategy, self.info.k
        else:
            chosen, chosen_k, _ = resolve_strategy(strategy, 0, spec, self.loaded.device.type)
        if k:
            chosen_k = k
        request = GenerationRequest(
            prompt_ids=tuple(prompt_ids),
            strategy=chosen,
            k=chosen_k,
            max_new_tokens=max_new_tokens,
            stop_token_ids=self.stop_token_ids,
            sat_id=spec.sat_id,
            stop=stop,
            reuse_prefix=self.settings.prefix_reuse if reuse_prefix is None else reuse_prefix,
            sampling=sampling,
            sample_stream=sample_stream,
            starts_with=starts_with,
        )
        return Generation(
            request, passes=self.passes, tokenizer=self.loaded.tokenizer, cancelled=cancelled
        )

    def generate_samples(
        self,
        prompt_ids: Sequence[int],
        count: int,
        *,
        max_new_tokens: int,
        sampling: SamplingParams,
        stop: StopCheck | None = None,
        cancelled: Callable[[], bool] = lambda: False,
        reuse_prefix: bool | None = None,
    ) -> BatchedSamples:
        """`count` independent samples as one batch (batched_sampling.py); lazy, iterating
        streams the first."""
        request = GenerationRequest(
            prompt_ids=tuple(prompt_ids),
            strategy="ar",
            k=0,
            max_new_tokens=max_new_tokens,
            stop_token_ids=self.stop_token_ids,
            stop=stop,
            reuse_prefix=self.settings.prefix_reuse if reuse_prefix is None else reuse_prefix,
            sampling=sampling,
        )
        return BatchedSamples(
            request, count, passes=self.passes, tokenizer=self.loaded.tokenizer, cancelled=cancelled
        )

    @property
    def cache(self) -> CachedIds:
        return self.passes.cache
