"""The one typed configuration: every tunable is declared here once.

CLI flags, LSP initialization options (camelCase on the wire) and the editor settings
(VS Code `package.json`, Neovim `setup{}`) derive from `Settings` or are checked against it by
tests. This module knows nothing of LSP, torch or the editors.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin, get_type_hints

# Decoding strategies, declared once; `auto` picks one per model and device (engine.py).
StrategyName = Literal["ar", "sdsat", "sdsat-tree", "lookup"]
Strategy = Literal["auto", StrategyName]
STRATEGIES: tuple[StrategyName, ...] = get_args(StrategyName)
# The strategies that draft with SAT tokens: they need a SAT-trained model.
SAT_STRATEGIES: frozenset[StrategyName] = frozenset({"sdsat", "sdsat-tree"})
Device = Literal["auto", "cpu", "cuda"]
Dtype = Literal["auto", "float32", "float16", "bfloat16"]
LogLevel = Literal["error", "warning", "info", "debug"]
# Forward passes (engine/forward): which implementation, weight format, compilation.
ForwardPath = Literal["auto", "static", "transformers"]
QuantizationName = Literal["none", "int8", "int4"]
Quantize = Literal["auto", QuantizationName]
Switch = Literal["auto", "on", "off"]
# Where completions are generated: this process (`local`) or an OpenAI-compatible inference
# engine's /v1/completions (`openai`: vLLM, SGLang, TGI, llama.cpp's server, Ollama).
Backend = Literal["local", "openai"]
MAX_THREADS = 256
# The optional pieces of a prompt besides the prefix window (context/prompt.py builds them; a
# registry entry names the ones its model gets, models/*.toml `prompt_pieces`).
PROMPT_PIECES = ("header", "snippets", "scope", "definitions")

DEFAULT_MODEL = "smollm2-135m"
# Ceilings: a completion is ghost text (a few lines), a prompt at most a large model's window.
MAX_NEW_TOKENS = 1024
MAX_CONTEXT_TOKENS = 131_072
# Paths that are the server's own stdio or a terminal (also refused when opened: latency.py).
STREAM_PATHS = frozenset(
    {"-", "/dev/stdout", "/dev/stderr", "/dev/stdin", "/dev/tty", "/dev/console"}
    | {f"/dev/fd/{n}" for n in range(3)}
    | {f"/proc/self/fd/{n}" for n in range(3)}
)


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


@dataclass(frozen=True)
class Settings:
    """Server settings with their defaults; `describe()` lists them for docs and editors."""

    model: str = field(
        default=DEFAULT_MODEL,
        metadata=_doc(
            "Registry name (see models/) or path to a local Hugging Face / SDSAT directory."
        ),
    )
    device: Device = field(default="auto", metadata=_doc("auto: CUDA when present, else CPU."))
    dtype: Dtype = field(
        default="auto", metadata=_doc("auto: float32 on CPU, bfloat16/float16 on CUDA.")
    )
    strategy: Strategy = field(
        default="auto",
        metadata=_doc(
            "Decoding: ar (plain greedy), sdsat (two passes per round), sdsat-tree (one pass "
            "per round), lookup, or auto (fastest lossless)."
        ),
    )
    k: int = field(
        default=0,
        metadata=_doc("Drafts per round (sdsat, sdsat-tree, lookup); 0 = the model's own k."),
    )
    max_new_tokens: int = field(default=64, metadata=_doc("Most tokens one completion generates."))
    context_tokens: int = field(
        default=1024, metadata=_doc("Prompt budget in model tokens (prefix, suffix, context).")
    )
    sat_token_id: int = field(
        default=-1, metadata=_doc("SAT token id for unknown SDSAT models; -1 = from the registry.")
    )
    prefix_reuse: bool = field(
        default=True, metadata=_doc("Keep the previous prompt's KV cache and prefill only changes.")
    )
    debounce_ms: int = field(
        default=75, metadata=_doc("Editor-side wait after a keystroke before requesting.")
    )
    forward_path: ForwardPath = field(
        default="auto",
        metadata=_doc(
            "Forward passes: static (preallocated cache, fixed compiled shapes; Llama models), "
            "transformers (its eager forward, any model), or auto (static where supported)."
        ),
    )
    quantize: Quantize = field(
        default="auto",
        metadata=_doc(
            "Weight format of the static path on CPU: none, int8, int4 (int8 output layer), "
            "or auto (the model's measured choice)."
        ),
    )
    compile: Switch = field(
        default="auto",
        metadata=_doc(
            "Compile each pass shape once at load (inductor; CUDA graphs on GPU); auto: on "
            "GPU, and on CPU where measured faster for the model."
        ),
    )
    threads: int = field(
        default=0,
        metadata=_doc(
            "CPU threads for the model; 0 = auto: the model's measured count, else as many as "
            "the cores other processes leave free, re-checked between passes."
        ),
    )
    temperature: float = field(
        default=0.0,
        metadata=_doc(
            "0 = greedy (the default); above 0 completions are sampled, still speculatively "
            "and losslessly (exactly plain sampling's distribution)."
        ),
    )
    top_p: float = field(
        default=1.0, metadata=_doc("Sampling: nucleus, the smallest set of tokens reaching topP.")
    )
    top_k: int = field(default=0, metadata=_doc("Sampling: only the topK likeliest; 0 = off."))
    seed: int = field(
        default=-1, metadata=_doc("Sampling: a seed reproduces a sample; -1 = random.")
    )
    alternatives: int = field(
        default=1,
        metadata=_doc(
            "Completions a manually invoked request returns (sampled when temperature > 0, "
            "de-duplicated, likeliest first); automatic requests return one."
        ),
    )
    backend: Backend = field(
        default="local",
        metadata=_doc(
            "local: the model runs in this process; openai: an OpenAI-compatible inference "
            "engine's /v1/completions (vLLM, SGLang, TGI, llama.cpp's server) generates, "
            "`model` then only names the tokenizer and prompt layout (docs/remote.md)."
        ),
    )
    backend_url: str = field(
        default="",
        metadata=_doc("backend openai: the engine's API base, e.g. http://gpu-box:8000/v1."),
    )
    backend_model: str = field(
        default="",
        metadata=_doc("backend openai: the model name the engine serves; empty = its first."),
    )
    backend_api_key_env: str = field(
        default="",
        metadata=_doc(
            "backend openai: name of the environment variable holding the API key (sent as "
            "a Bearer token; the key itself never goes into settings or logs)."
        ),
    )
    backend_timeout_ms: int = field(
        default=15_000,
        metadata=_doc(
            "backend openai: longest wait to connect, for the first streamed byte and "
            "between chunks; past it the completion is empty and the status says why."
        ),
    )
    log_file: str = field(
        default="", metadata=_doc("Append one JSON latency line per completion here; empty = off.")
    )
    log_level: LogLevel = field(
        default="info", metadata=_doc("debug also logs prompts and completion text.")
    )

    def __post_init__(self) -> None:
        problems = validate(self)
        if problems:
            raise ConfigError("; ".join(problems))


# Every setting is one or the other (a test checks that each field is classified).
# Settings whose change needs a new engine (the server reloads the model): what is loaded and
# how its passes are prepared; strategy and k too, since compiled forward passes are prepared
# for the strategy's pass shapes at load.
ENGINE_SETTINGS: tuple[str, ...] = (
    "model",
    "device",
    "dtype",
    "sat_token_id",
    "strategy",
    "k",
    "forward_path",
    "quantize",
    "compile",
    "threads",
    "backend",
    "backend_url",
    "backend_model",
    "backend_api_key_env",
    "backend_timeout_ms",
)
# Settings that apply per request (or to the server itself). max_new_tokens and
# context_tokens size the static KV cache at load, but it grows when a request needs more.
REQUEST_SETTINGS: tuple[str, ...] = (
    "max_new_tokens",
    "context_tokens",
    "prefix_reuse",
    "debounce_ms",
    "temperature",
    "top_p",
    "top_k",
    "seed",
    "alternatives",
    "log_file",
    "log_level",
)


@dataclass(frozen=True)
class SamplingParams:
    """How one request samples (engine/sampling.py); greedy requests carry none."""

    temperature: float  # > 0
    top_p: float = 1.0  # nucleus: the smallest set of tokens whose probability reaches top_p
    top_k: int = 0  # 0 = off
    seed: int | None = None  # None = a fresh random seed per request

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError(f"sampling needs a temperature > 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be ≥ 0, got {self.top_k}")

    @classmethod
    def from_settings(cls, settings: Settings) -> SamplingParams | None:
        """None at temperature 0 (greedy)."""
        if settings.temperature <= 0:
            return None
        seed = None if settings.seed < 0 else settings.seed
        return cls(float(settings.temperature), float(settings.top_p), settings.top_k, seed)


class ConfigError(ValueError):
    """Invalid settings; the message names every bad field."""


def camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _field_types() -> dict[str, Any]:
    return get_type_hints(Settings)


def validate(settings: Settings) -> list[str]:
    """Return human-readable problems (empty when valid)."""
    problems: list[str] = []
    for name, kind in _field_types().items():
        value = getattr(settings, name)
        if get_origin(kind) is Literal:
            if value not in get_args(kind):
                allowed = ", ".join(map(str, get_args(kind)))
                problems.append(f"{camel_case(name)}={value!r} is not one of {allowed}")
        elif kind is bool:
            if not isinstance(value, bool):
                problems.append(f"{camel_case(name)}={value!r} is not a boolean")
        elif kind is int:
            if isinstance(value, bool) or not isinstance(value, int):
                problems.append(f"{camel_case(name)}={value!r} is not an integer")
        elif kind is float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                problems.append(f"{camel_case(name)}={value!r} is not a number")
        elif kind is str and not isinstance(value, str):
            problems.append(f"{camel_case(name)}={value!r} is not a string")
    if not problems:
        if settings.k < 0 or settings.k > 16:
            problems.append(f"k={settings.k} must be between 0 and 16")
        if not 1 <= settings.max_new_tokens <= MAX_NEW_TOKENS:
            problems.append(
                f"maxNewTokens={settings.max_new_tokens} must be between 1 and {MAX_NEW_TOKENS}"
            )
        if not 64 <= settings.context_tokens <= MAX_CONTEXT_TOKENS:
            problems.append(
                f"contextTokens={settings.context_tokens} must be between 64 and "
                f"{MAX_CONTEXT_TOKENS} (and fit the model's context length, checked on load)"
            )
        if not 0 <= settings.threads <= MAX_THREADS:
            problems.append(f"threads={settings.threads} must be between 0 and {MAX_THREADS}")
        if not 0 <= settings.debounce_ms <= 10_000:
            problems.append(f"debounceMs={settings.debounce_ms} must be between 0 and 10000")
        problems += _sampling_problems(settings)
        problems += _backend_problems(settings)
        if len(settings.model) > 4096 or len(settings.log_file) > 4096:
            problems.append("model and logFile must be at most 4096 characters")
        if settings.log_file.strip() in STREAM_PATHS:
            problems.append(
                f"logFile={settings.log_file!r} would write into the LSP stream or a terminal"
            )
    return problems


def _sampling_problems(settings: Settings) -> list[str]:
    problems = []
    if not 0 <= settings.temperature <= 5:
        problems.append(f"temperature={settings.temperature} must be between 0 and 5")
    if not 0 < settings.top_p <= 1:
        problems.append(f"topP={settings.top_p} must be above 0 and at most 1")
    if settings.top_k < 0:
        problems.append(f"topK={settings.top_k} must be 0 (off) or more")
    if not -1 <= settings.seed < 2**31:
        problems.append(f"seed={settings.seed} must be -1 (random) or between 0 and 2^31-1")
    if not 1 <= settings.alternatives <= 8:
        problems.append(f"alternatives={settings.alternatives} must be between 1 and 8")
    return problems


def _backend_problems(settings: Settings) -> list[str]:
    """Each backend setting on its own (an empty URL with backend openai is reported when the
    backend starts: settings arrive one key at a time)."""
    problems = []
    url = settings.backend_url
    if url and (not re.match(r"https?://[^/\s]+", url) or len(url) > 2048):
        problems.append(f"backendUrl={url!r} must be an http:// or https:// URL")
    if len(settings.backend_model) > 512:
        problems.append("backendModel must be at most 512 characters")
    name = settings.backend_api_key_env
    if name and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", name):
        problems.append(
            f"backendApiKeyEnv={name!r} must be an environment variable name (the key itself "
            "belongs in that variable, never in settings)"
        )
    if not 100 <= settings.backend_timeout_ms <= 600_000:
        problems.append(
            f"backendTimeoutMs={settings.backend_timeout_ms} must be between 100 and 600000"
        )
    return problems


def settings_from_wire(
    options: Mapping[str, Any] | None, base: Settings | None = None
) -> tuple[Settings, list[str]]:
    """Parse camelCase (or snake_case) options over `base`.

    Returns the settings and the problems found. Invalid or unknown keys are reported and
    ignored, so a broken config never stops the server: the valid keys still apply.
    """
    base = base or Settings()
    if options is None:
        return base, []
    if not isinstance(options, Mapping):
        return base, [f"settings must be an object, got {type(options).__name__}"]
    known = {f.name for f in dataclasses.fields(Settings)}
    problems: list[str] = []
    accepted: dict[str, Any] = {}
    for key, value in options.items():
        name = snake_case(str(key))
        if name not in known:
            problems.append(f"unknown setting {key!r}")
            continue
        candidate = dataclasses.replace(base, **accepted) if accepted else base
        try:
            dataclasses.replace(candidate, **{name: value})
        except ConfigError as error:
            problems.append(str(error))
            continue
        accepted[name] = value
    return dataclasses.replace(base, **accepted), problems


def settings_to_wire(settings: Settings) -> dict[str, Any]:
    return {camel_case(f.name): getattr(settings, f.name) for f in dataclasses.fields(Settings)}


def describe() -> list[dict[str, Any]]:
    """One entry per setting: wire name, type, allowed values, default, doc.

    Editors' settings are checked against this list (tests), never copied by hand.
    """
    entries = []
    types = _field_types()
    for f in dataclasses.fields(Settings):
        kind = types[f.name]
        entry: dict[str, Any] = {
            "name": camel_case(f.name),
            "default": f.default,
            "doc": f.metadata.get("doc", ""),
        }
        if get_origin(kind) is Literal:
            entry["type"] = "string"
            entry["enum"] = list(get_args(kind))
        else:
            entry["type"] = {bool: "boolean", int: "integer", float: "number", str: "string"}[kind]
        entries.append(entry)
    return entries
