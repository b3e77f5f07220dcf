"""`TrainConfig`: every tunable of a training run, declared once with its help text.

`sdsat-lsp train` flags are generated from these fields; the resolved config is saved as
`train_config.json` next to every checkpoint and inside `sdsat.json`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from sdsat_lsp.training.adapter import Mode
from sdsat_lsp.training.data import CODE_EXTENSIONS

Targets = Literal["data", "greedy"]
DistillPoints = Literal["docstring-lines", "editor"]


def _help(text: str, **extra: Any) -> dict[str, Any]:
    return {"help": text, **extra}


@dataclass(frozen=True)
class TrainConfig:
    base: str = field(metadata=_help("base model: registry name, HF directory or .gguf file"))
    data: tuple[str, ...] = field(metadata=_help("code directories to train on", nargs="+"))
    output: str = field(metadata=_help("output directory: checkpoints + the best artifact"))
    k: int = field(default=4, metadata=_help("SATs per group = drafts per round"))
    mode: Mode = field(
        default="sat-adapter",
        metadata=_help(
            "full: all weights (the paper); sat-adapter: LoRA active only at SAT "
            "positions + SAT embedding; sat-embedding: only the SAT embedding. "
            "The last two leave ordinary tokens exactly as the base"
        ),
    )
    max_steps: int = field(
        default=2000, metadata=_help("optimizer steps in total (resume counts on)")
    )
    lr: float = field(
        default=0.0,
        metadata=_help("peak learning rate; 0 = 2e-3 (adapter, embedding) or 2e-5 (full)"),
    )
    warmup_steps: int = field(default=20, metadata=_help("linear warm-up steps"))
    seq_len: int = field(default=256, metadata=_help("real tokens per training sequence"))
    sat_groups_per_seq: int = field(default=32, metadata=_help("SAT groups inserted per sequence"))
    batch_size: int = field(default=1, metadata=_help("sequences per step"))
    lora_rank: int = field(default=16, metadata=_help("LoRA rank (sat-adapter)"))
    lora_alpha: float = field(default=32.0, metadata=_help("LoRA alpha; scale = alpha / rank"))
    sat_loss_weight: float = field(
        default=1.0, metadata=_help("weight of the SAT loss (full mode adds the LM loss)")
    )
    sat_position_decay: float = field(
        default=0.8, metadata=_help("SAT i's loss weight ∝ decay^(i-1)")
    )
    targets: Targets = field(
        default="greedy",
        metadata=_help(
            "SAT targets: greedy = the base model's own argmax for that future position "
            "(what decoding accepts); data = the true future tokens (the paper)"
        ),
    )
    distill_prompts: int = field(
        default=0,
        metadata=_help(
            "0 = train on the code as written; N = cut N completion prompts from the data, "
            "let the base model continue each greedily and train SATs only inside those "
            "continuations (what decoding verifies)"
        ),
    )
    distill_points: DistillPoints = field(
        default="docstring-lines",
        metadata=_help(
            "where distilled prompts end: docstring-lines = after a function's docstring or at "
            "a line start in a body; editor = the quality benchmark's kinds, in turn: after "
            "the indentation of a body line, at the end of a def line, inside a line"
        ),
    )
    distill_context: int = field(default=128, metadata=_help("prompt tokens per distilled row"))
    distill_new_tokens: int = field(
        default=64, metadata=_help("greedy tokens generated per distilled row")
    )
    extra_data: tuple[str, ...] = field(
        default=(),
        metadata=_help(
            "data folders of earlier runs (their OUTPUT/data) whose rows join this run's: "
            "training rows to train on, held-out rows to evaluate checkpoints on; same row "
            "length and kind (distilled or not) as this run's",
            nargs="*",
        ),
    )
    init_from: str = field(
        default="",
        metadata=_help("start from this SDSAT artifact's adapter (same base, mode, rank, SAT)"),
    )
    sat_token: str = field(
        default="auto",
        metadata=_help("auto (a free special token), new (a new id, input only) or an id"),
    )
    threads: int = field(default=0, metadata=_help("torch CPU threads; 0 = torch's default"))
    device: str = field(default="cpu", metadata=_help("cpu, cuda or auto"))
    seed: int = field(default=0, metadata=_help("seed for data order, SAT points and init"))
    checkpoint_minutes: float = field(default=5.0, metadata=_help("minutes between checkpoints"))
    keep_checkpoints: int = field(default=3, metadata=_help("recent checkpoints kept (+ the best)"))
    eval_sequences: int = field(
        default=32, metadata=_help("held-out sequences per checkpoint eval")
    )
    eval_prompts: int = field(
        default=16,
        metadata=_help("held-out prompts for the final two-step acceptance measurement; 0 = skip"),
    )
    eval_new_tokens: int = field(default=48, metadata=_help("tokens generated per eval prompt"))
    held_out_percent: float = field(default=2.0, metadata=_help("percent of files held out"))
    max_train_tokens: int = field(default=4_000_000, metadata=_help("training tokens to read"))
    max_file_kb: int = field(default=200, metadata=_help("skip files larger than this"))
    extensions: tuple[str, ...] = field(
        default=CODE_EXTENSIONS, metadata=_help("file extensions to read", nargs="+")
    )
    exclude: tuple[str, ...] = field(
        default=(),
        metadata=_help(
            "globs excluded (matched on relative paths and path parts), e.g. test tests", nargs="*"
        ),
    )

    # May differ on --resume; everything else must match the checkpoint's train_config.json.
    RESUMABLE = (
        "max_steps",
        "threads",
        "checkpoint_minutes",
        "keep_checkpoints",
        "device",
        "eval_prompts",
        "eval_new_tokens",
        "eval_sequences",
    )

    @property
    def learning_rate(self) -> float:
        return self.lr or (2e-5 if self.mode == "full" else 2e-3)

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
