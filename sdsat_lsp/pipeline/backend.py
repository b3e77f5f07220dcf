"""What the completion pipeline needs from a model backend, and nothing more.

Today's backend is the local `sdsat_lsp.engine.Engine` (it satisfies these protocols as it
is); a remote engine plugs in by implementing the same few members. Everything above this
line (prompt building, stop rules, the visible text, the final text) stays in the pipeline,
so a backend never sees tree-sitter or LSP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # a type only: the engine's module imports torch
    from sdsat_lsp.config import SamplingParams
    from sdsat_lsp.engine.generation import StopCheck


class BackendInfo(Protocol):
    """The loaded model and how it decodes (shown to users, recorded with each completion)."""

    @property
    def model_name(self) -> str: ...
    @property
    def device(self) -> str: ...
    @property
    def strategy(self) -> str: ...
    @property
    def k(self) -> int: ...
    @property
    def fim(self) -> bool: ...  # takes a suffix (fill-in-the-middle)
    @property
    def prompt_pieces(self) -> tuple[str, ...]: ...  # the model's optional prompt pieces


class BackendStats(Protocol):
    @property
    def new_tokens(self) -> int: ...
    def to_dict(self) -> dict[str, Any]: ...


class TextStream(Protocol):
    """One generation: iterating runs the model and yields text deltas; `text` is all of it
    so far (already cut where the stop check said so). `stats` is ready once it ended."""

    @property
    def text(self) -> str: ...
    @property
    def finish_reason(self) -> str: ...  # eos | length | stop | cancelled
    @property
    def stats(self) -> BackendStats: ...
    def __iter__(self) -> Iterator[str]: ...


class CompletionBackend(Protocol):
    @property
    def info(self) -> BackendInfo: ...

    def count_tokens(self, text: str) -> int: ...

    def encode_prompt(self, prefix: str, suffix: str = "") -> Sequence[int]: ...

    def generate(
        self,
        prompt_ids: Sequence[int],
        *,
        max_new_tokens: int,
        stop: StopCheck | None = None,
        cancelled: Callable[[], bool] = ...,
        strategy: str | None = None,
        k: int | None = None,
        reuse_prefix: bool | None = None,
        sampling: SamplingParams | None = None,
        sample_stream: int = 0,
        starts_with: str = "",
    ) -> TextStream:
        """Greedy generation (sampled with `sampling`; `sample_stream` numbers a request's
        alternatives), checked against `stop` after every round and `cancelled` before every
        forward pass; `strategy`/`k`/`reuse_prefix` None: the backend's own. `starts_with`:
        the cursor's line break(s) and indentation, which the text should start with before
        its code (a backend that cannot constrain tokens ignores it; the stop rule aligns)."""
        ...


class Sample(Protocol):
    """One finished sample of a batch."""

    @property
    def text(self) -> str: ...
    @property
    def finish_reason(self) -> str: ...
    @property
    def logprob(self) -> float: ...


class SampleBatch(TextStream, Protocol):
    """Several samples of one prompt run together: iterating streams the first one's text;
    `samples` has all of them (the first first) once it ended, none if cancelled."""

    @property
    def samples(self) -> Sequence[Sample]: ...


@runtime_checkable
class BatchSamplingBackend(Protocol):
    """A backend that samples a request's alternatives in one batch (the local engine)."""

    def generate_samples(
        self,
        prompt_ids: Sequence[int],
        count: int,
        *,
        max_new_tokens: int,
        sampling: SamplingParams,
        stop: StopCheck | None = None,
        cancelled: Callable[[], bool] = ...,
        reuse_prefix: bool | None = None,
    ) -> SampleBatch:
        """`count` independent plain samples, one forward pass per step for all of them."""
        ...
