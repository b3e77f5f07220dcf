"""The TrainConfig the training tests start from: a tiny model, a few seconds of training."""

from __future__ import annotations

from pathlib import Path

from sdsat_lsp.training.config import TrainConfig


def tiny_train_config(base: Path, corpus: Path, output: Path, **overrides: object) -> TrainConfig:
    values: dict[str, object] = dict(
        base=str(base),
        data=(str(corpus),),
        output=str(output),
        k=3,
        mode="sat-adapter",
        max_steps=80,
        lr=1e-2,
        warmup_steps=5,
        seq_len=64,
        sat_groups_per_seq=16,
        batch_size=4,
        lora_rank=4,
        lora_alpha=8.0,
        threads=1,
        eval_sequences=8,
        eval_prompts=0,
        held_out_percent=20.0,
        checkpoint_minutes=60.0,
    )
    values.update(overrides)
    return TrainConfig(**values)  # type: ignore[arg-type]
