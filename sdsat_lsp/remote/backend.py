"""`RemoteBackend`: the pipeline's `CompletionBackend` over an OpenAI-compatible engine.

The pipeline builds the same prompt as for the local engine, within the same token budget,
counted by the local tokenizer of the `model` setting (the registry model's `tokenizer.json`,
no torch) or, without one, estimated from characters. The prompt goes to the engine as text
(`prompt` string), so the engine's prefix cache (vLLM's automatic prefix caching, llama.cpp's
`cache_prompt`) sees the same stable prefix while the user types. A FIM model's prefix and
suffix are laid out with its FIM markers as a raw prompt.

`encode_prompt` returns a `TextPrompt`: the token ids (for the record) that also carry the
text; `generate` sends that text. Stop rules stay ours: the stream's text is checked after
every chunk and the HTTP stream closed where the rule cuts, so an engine that ignores `stop`
costs nothing but the tokens already sent; the server-side `stop` strings are only those that
can never cut earlier than the rule (a newline in single-line mode, the model's end markers).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, overload

from sdsat_lsp.config import PROMPT_PIECES, Settings
from sdsat_lsp.context import Shape, StopRule
from sdsat_lsp.model.registry import LOCAL_SPEC_FILE, ModelSpec, find_spec, read_spec_file
from sdsat_lsp.remote.http import Endpoint, EngineConnection, EngineError, StreamHandle
from sdsat_lsp.remote.sse import Chunk

log = logging.getLogger(__name__)

POLL_S = 0.005  # how often a waiting stream looks at `cancelled()`
CHARS_PER_TOKEN = 3.0  # the estimate without a tokenizer (code: 3-4 characters a token)
MAX_STOP_STRINGS = 4  # the OpenAI API's limit
HealthCallback = Callable[[str | None], None]  # None: the engine answered; else the reason


class TextPrompt(Sequence[int]):
    """The prompt's token ids (local tokenizer; empty without one) and its text."""

    def __init__(self, text: str, ids: Sequence[int]) -> None:
        self.text = text
        self.ids = tuple(ids)

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, index: int) -> int: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[int]: ...
    def __getitem__(self, index: int | slice) -> int | Sequence[int]:
        return self.ids[index]


@dataclass(frozen=True)
class RemoteInfo:
    model_name: str  # what the engine serves (backendModel, or its first model)
    device: str  # the engine's API base, without credentials
    fim: bool
    tokenizer: str  # where prompt budgets are counted
    strategy: str = "remote"
    k: int = 0
    dtype: str = ""
    backend: str = "openai"
    prompt_pieces: tuple[str, ...] = PROMPT_PIECES  # the local registry entry's, if any

    @property
    def forward(self) -> str:
        return (
            f"openai-compatible engine at {self.device} (/completions, streamed); {self.tokenizer}"
        )


@dataclass(frozen=True)
class RemoteStats:
    prompt_tokens: int
    new_tokens: int
    total_ms: float
    finish_reason: str
    connect_ms: float | None
    first_byte_ms: float | None
    first_token_ms: float | None
    tokens_per_second: float
    usage_prompt_tokens: int | None  # what the engine reported (usage), when it did
    usage_completion_tokens: int | None
    reused_prefix_tokens: int  # the engine's cached prompt tokens, when it reports them
    engine_finish_reason: str  # the engine's own (stop | length | ""), before our rules
    strategy: str = "remote"
    k: int = 0
    backend: str = "openai"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Tokenizer:
    """Counting and encoding with the model's `tokenizer.json`, or a character estimate."""

    def __init__(self, path: Path | None) -> None:
        self._tokenizer: Any = None
        self.description = "prompt budget estimated from characters (no local tokenizer)"
        if path is not None and path.is_file():
            from tokenizers import Tokenizer as HfTokenizer

            try:
                self._tokenizer = HfTokenizer.from_file(str(path))
                self.description = f"prompt budget counted with {path}"
            except Exception as error:  # a damaged file: fall back, say so
                log.warning("cannot read the tokenizer %s: %s", path, error)

    @property
    def exact(self) -> bool:
        return self._tokenizer is not None

    def encode(self, text: str) -> list[int]:
        if self._tokenizer is None:
            return []
        return list(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def count(self, text: str) -> int:
        if self._tokenizer is None:
            return int(len(text) / CHARS_PER_TOKEN) + (1 if text else 0)
        return len(self.encode(text))

    def token_text(self, token_id: int | None) -> str:
        if self._tokenizer is None or token_id is None:
            return ""
        return str(self._tokenizer.decode([token_id], skip_special_tokens=False)).strip()


def local_model(reference: str) -> tuple[ModelSpec | None, Path | None]:
    """The registry spec (or a directory's own) and tokenizer file for `model`, where local."""
    try:
        spec = find_spec(reference)
    except ValueError:
        spec = None
    if spec is not None:
        return spec, spec.cache_path() / "tokenizer.json"
    path = Path(reference).expanduser()
    if path.is_dir():
        own = path / LOCAL_SPEC_FILE
        try:
            found = read_spec_file(own) if own.is_file() else None
        except ValueError:
            found = None
        return found, path / "tokenizer.json"
    return None, None


def server_stop_strings(rule: StopRule | None, end_markers: Sequence[str]) -> list[str]:
    """Stop strings the engine may apply without ever cutting earlier than `rule` would."""
    strings = [marker for marker in end_markers if marker]
    if (
        rule is not None
        and rule.shape is Shape.SINGLE_LINE
        and not rule.next_line
        and "\n" not in rule.lead
    ):
        strings.insert(0, "\n")  # the rule keeps nothing after the first line break
    return list(dict.fromkeys(strings))[:MAX_STOP_STRINGS]


class RemoteBackend:
    """Prompts counted locally, completions streamed from the engine. One worker thread uses
    it (like the Engine); `close()` ends its connection thread."""

    def __init__(self, settings: Settings, on_health: HealthCallback | None = None) -> None:
        self.settings = settings
        self._on_health = on_health or (lambda reason: None)
        endpoint = Endpoint.parse(settings.backend_url)
        spec, tokenizer_path = local_model(settings.model)
        self.spec = spec
        self.tokenizer = Tokenizer(tokenizer_path)
        fim = bool(spec and spec.has_fim and self.tokenizer.exact)
        self._markers = (
            [self.tokenizer.token_text(i) for i in (spec.fim_prefix_id, spec.fim_suffix_id)]
            + [self.tokenizer.token_text(spec.fim_middle_id)]
            if fim and spec is not None
            else []
        )
        if fim and not all(self._markers):
            fim, self._markers = False, []
        end_ids = sorted(spec.stop_ids()) if spec is not None and fim else []
        self._end_markers = [self.tokenizer.token_text(i) for i in end_ids]
        self.connection = EngineConnection(
            endpoint,
            api_key_env=settings.backend_api_key_env,
            timeout_s=settings.backend_timeout_ms / 1000.0,
        )
        self.model = settings.backend_model
        self.context_length: int | None = None
        self._retry_at = 0.0
        self._retry_reason = ""
        self.info = RemoteInfo(
            model_name=self.model or settings.model,
            device=endpoint.shown,
            fim=fim,
            tokenizer=self.tokenizer.description,
            prompt_pieces=spec.prompt_pieces if spec is not None else PROMPT_PIECES,
        )

    def close(self) -> None:
        self.connection.close()

    # -- the engine's state -------------------------------------------------------------------

    def check(self) -> str | None:
        """Ask the engine for its models (`GET /models`): None when it serves ours, else why.

        Fills the model name when `backendModel` is empty, and the context length where the
        engine reports it (vLLM's `max_model_len`)."""
        try:
            listing = self.connection.get_models()
        except EngineError as error:
            self._on_health(error.reason)
            return error.reason
        models = [m for m in listing.get("data", []) if isinstance(m, dict)]
        names = [str(m.get("id", "")) for m in models]
        if not self.model and names:
            self.model = names[0]
        if self.model and names and self.model not in names:
            reason = (
                f"the engine at {self.info.device} does not serve {self.model!r} "
                f"(it serves {', '.join(names[:5])}): check backendModel"
            )
            self._on_health(reason)
            return reason
        ours = next((m for m in models if m.get("id") == self.model), {})
        length = ours.get("max_model_len")
        self.context_length = length if isinstance(length, int) and length > 0 else None
        self.info = RemoteInfo(
            model_name=self.model or self.settings.model,
            device=self.info.device,
            fim=self.info.fim,
            tokenizer=self.tokenizer.description,
        )
        self._on_health(None)
        return None

    def report(self, reason: str | None) -> None:
        self._on_health(reason)

    def pause(self, error: EngineError) -> None:
        """After a 429/503 with Retry-After: no request goes out before then."""
        if error.retry_after_s:
            self._retry_at = time.monotonic() + error.retry_after_s
            self._retry_reason = error.reason

    def paused(self) -> EngineError | None:
        if time.monotonic() < self._retry_at:
            return EngineError(self._retry_reason)
        return None

    # -- CompletionBackend ----------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        return self.tokenizer.count(text)

    def encode_prompt(self, prefix: str, suffix: str = "") -> TextPrompt:
        if self._markers:
            pre, suf, mid = self._markers
            if self.spec is not None and self.spec.fim_template == "spm":
                text = f"{pre}{suf}{suffix}{mid}{prefix}"
            else:
                text = f"{pre}{prefix}{suf}{suffix}{mid}"
        else:
            text = prefix or "\n"  # engines refuse an empty prompt
        return TextPrompt(text, self.tokenizer.encode(text))

    def generate(
        self,
        prompt_ids: Sequence[int],
        *,
        max_new_tokens: int,
        stop: Callable[[str], int | None] | None = None,
        cancelled: Callable[[], bool] = lambda: False,
        strategy: str | None = None,
        k: int | None = None,
        reuse_prefix: bool | None = None,
        sampling: Any = None,
        sample_stream: int = 0,
        starts_with: str = "",
    ) -> RemoteStream:
        """A lazy stream; `strategy`, `k` and `reuse_prefix` are the engine's business, and
        `starts_with` is not sent (the completions API cannot constrain the first tokens).
        `sampling` (temperature, top_p, top_k, seed; None: greedy) goes to the engine as its
        request fields; `sample_stream` offsets the seed so a request's alternatives differ."""
        if not isinstance(prompt_ids, TextPrompt):
            raise TypeError("RemoteBackend.generate takes the TextPrompt from encode_prompt")
        rule = getattr(stop, "__self__", None)  # the pipeline passes `StopRule.check`
        body: dict[str, Any] = {
            "prompt": prompt_ids.text,
            "max_tokens": max_new_tokens,
            "temperature": 0.0,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if self.model:
            body["model"] = self.model
        body.update(sampling_fields(sampling, sample_stream))
        strings = server_stop_strings(
            rule if isinstance(rule, StopRule) else None, self._end_markers
        )
        if strings:
            body["stop"] = strings
        prompt_tokens = len(prompt_ids) or self.tokenizer.count(prompt_ids.text)
        return RemoteStream(self, body, max_new_tokens, stop, cancelled, prompt_tokens)


class RemoteStream:
    """One streamed completion: iterating sends the request and yields text deltas."""

    def __init__(
        self,
        backend: RemoteBackend,
        body: dict[str, Any],
        max_new_tokens: int,
        stop: Callable[[str], int | None] | None,
        cancelled: Callable[[], bool],
        prompt_tokens: int,
    ) -> None:
        self._backend = backend
        self.body = body
        self._max_new_tokens = max_new_tokens
        self._stop = stop
        self._cancelled = cancelled
        self._prompt_tokens = prompt_tokens
        self.text = ""
        self.raw = ""
        self.finish_reason = "running"
        self._stats: RemoteStats | None = None
        self._started = False

    @property
    def stats(self) -> RemoteStats:
        if self._stats is None:
            raise RuntimeError("stats are ready once the stream has ended")
        return self._stats

    def __iter__(self) -> Iterator[str]:
        if self._started:
            raise RuntimeError("a RemoteStream runs once")
        self._started = True
        backend = self._backend
        if (waiting := backend.paused()) is not None:
            self._stats = self._make_stats(None, 0, None, None, {}, "")
            raise waiting
        handle = backend.connection.open_stream(self.body)
        tokens = 0
        first_token: float | None = None
        last_token: float | None = None
        usage: dict[str, Any] = {}
        engine_reason = ""
        answered = False
        try:
            while self.finish_reason == "running":
                if self._cancelled():
                    self.finish_reason = "cancelled"
                    break
                item = handle.next(POLL_S)
                if item is None:
                    if not handle.ended:
                        continue
                    if not engine_reason:  # neither [DONE] nor a finish reason
                        raise EngineError(
                            f"the engine at {backend.info.device} ended the stream early"
                        )
                    self.finish_reason = "length" if engine_reason == "length" else "eos"
                    break
                if isinstance(item, EngineError):
                    backend.pause(item)
                    backend.report(item.reason)
                    raise item
                if not answered:
                    answered = True
                    backend.report(None)
                usage = item.usage or usage
                engine_reason = item.finish_reason or engine_reason
                if item.text:
                    tokens += 1
                    last_token = time.perf_counter()
                    first_token = first_token or last_token
                    delta = self._push(item)
                    if delta:
                        yield delta
                    if self.finish_reason == "running" and tokens >= self._max_new_tokens:
                        self.finish_reason = "length"  # an engine that overshoots max_tokens
                if item.done and self.finish_reason == "running":
                    self.finish_reason = "length" if engine_reason == "length" else "eos"
        finally:
            handle.close()  # the engine stops generating for a request whose stream closed
            self._stats = self._make_stats(
                handle, tokens, first_token, last_token, usage, engine_reason
            )

    def _push(self, chunk: Chunk) -> str:
        self.raw += chunk.text
        text = self.raw
        if self._stop is not None:
            cut = self._stop(text)
            if cut is not None:
                text = text[:cut]
                self.finish_reason = "stop"
        previous, self.text = self.text, text
        return text[len(previous) :] if text.startswith(previous) else ""

    def _make_stats(
        self,
        handle: StreamHandle | None,
        tokens: int,
        first_token: float | None,
        last_token: float | None,
        usage: dict[str, Any],
        engine_reason: str,
    ) -> RemoteStats:
        times = handle.times if handle is not None else None
        end = time.perf_counter()
        started = times.started if times is not None else end

        def since_start(moment: float | None) -> float | None:
            return None if moment is None else round((moment - started) * 1000.0, 3)

        rate = 0.0
        if first_token is not None and last_token is not None and tokens > 1:
            rate = (tokens - 1) / max(last_token - first_token, 1e-9)
        details = usage.get("prompt_tokens_details")
        cached = details.get("cached_tokens") if isinstance(details, dict) else None
        return RemoteStats(
            prompt_tokens=self._prompt_tokens,
            new_tokens=tokens,
            total_ms=round((end - started) * 1000.0, 3),
            finish_reason=self.finish_reason,
            connect_ms=None
            if times is None or times.connect_ms is None
            else round(times.connect_ms, 3),
            first_byte_ms=None
            if times is None or times.first_byte_ms is None
            else round(times.first_byte_ms, 3),
            first_token_ms=since_start(first_token),
            tokens_per_second=round(rate, 3),
            usage_prompt_tokens=_int_or_none(usage.get("prompt_tokens")),
            usage_completion_tokens=_int_or_none(usage.get("completion_tokens")),
            reused_prefix_tokens=cached if isinstance(cached, int) else 0,
            engine_finish_reason=engine_reason,
        )


def sampling_fields(sampling: Any, sample_stream: int = 0) -> dict[str, Any]:
    """The request fields for sampled completions (OpenAI's, plus `top_k`, which vLLM,
    SGLang, TGI and llama.cpp's servers take); none for greedy ones."""
    temperature = getattr(sampling, "temperature", 0.0) if sampling is not None else 0.0
    if not temperature or temperature <= 0:
        return {}
    fields: dict[str, Any] = {"temperature": float(temperature)}
    top_p = getattr(sampling, "top_p", 1.0)
    if top_p < 1.0:
        fields["top_p"] = float(top_p)
    top_k = getattr(sampling, "top_k", 0)
    if top_k > 0:
        fields["top_k"] = int(top_k)
    seed = getattr(sampling, "seed", None)
    if seed is not None:
        fields["seed"] = int(seed) + sample_stream
    return fields


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
