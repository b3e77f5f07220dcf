"""`sdsat-lsp train`: SDSAT fine-tuning, artifact export and evaluation.

    sdsat-lsp train --base MODEL --data DIR [DIR...] --k K --mode MODE --output DIR [--resume]
    sdsat-lsp train --export-from CHECKPOINT --output DIR [--base NAME] [--export-dtype float16]
        [--export-rank R]
    sdsat-lsp train --evaluate ARTIFACT [--humaneval N | --data DIR...] [--eval-prompts N]

Training flags are generated from `TrainConfig` (one declaration, one help text each).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import typing
from pathlib import Path
from typing import Any, get_args, get_origin

from sdsat_lsp.cli import CommandError
from sdsat_lsp.training.config import TrainConfig

log = logging.getLogger(__name__)
_REQUIRED_FOR_TRAINING = ("base", "data", "output")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    hints = typing.get_type_hints(TrainConfig)
    for item in dataclasses.fields(TrainConfig):
        flag = "--" + item.name.replace("_", "-")
        kind = hints[item.name]
        options: dict[str, Any] = {"help": item.metadata.get("help", "")}
        if "nargs" in item.metadata:
            options["nargs"] = item.metadata["nargs"]
        if get_origin(kind) is typing.Literal:
            options["choices"] = list(get_args(kind))
        elif kind in (int, float, str):
            options["type"] = kind
        elif get_origin(kind) is tuple:
            options["type"] = str
        if item.default is not dataclasses.MISSING:
            shown = " ".join(item.default) if isinstance(item.default, tuple) else item.default
            options["help"] += f" (default: {shown})" if shown != "" else ""
        options["default"] = None  # unset flags fall back to the dataclass default
        parser.add_argument(flag, **options)
    parser.add_argument(
        "--resume", action="store_true", help="continue from the latest checkpoint under --output"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--export-from",
        metavar="CHECKPOINT",
        help="write CHECKPOINT's artifact (adapter + sdsat.json) to --output",
    )
    parser.add_argument(
        "--export-dtype",
        choices=["float32", "float16", "bfloat16"],
        default="float16",
        help="adapter dtype of --export-from (default: float16)",
    )
    parser.add_argument(
        "--export-rank",
        type=int,
        default=0,
        help="with --export-from: truncate the LoRA to this rank (best approximation by SVD)",
    )
    parser.add_argument(
        "--evaluate",
        metavar="ARTIFACT",
        help="evaluate an artifact: SAT accuracy + two-step acceptance",
    )
    parser.add_argument(
        "--humaneval",
        type=int,
        metavar="N",
        default=None,
        help="with --evaluate: use N HumanEval prompts (0 = all 164)",
    )
    parser.add_argument("--report", metavar="FILE", help="with --evaluate: write the JSON here")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    missing = [f"--{name}" for name in _REQUIRED_FOR_TRAINING if getattr(args, name) is None]
    if missing:
        raise CommandError(f"missing {', '.join(missing)}")
    values: dict[str, Any] = {}
    for item in dataclasses.fields(TrainConfig):
        value = getattr(args, item.name)
        if value is not None:
            values[item.name] = tuple(value) if isinstance(value, list) else value
    config = TrainConfig(**values)
    validate(config)
    return config


def validate(config: TrainConfig) -> None:
    """Bad input → CommandError naming the flag."""
    if config.k <= 0:
        raise CommandError(f"--k must be positive, not {config.k}")
    for name in ("max_steps", "seq_len", "sat_groups_per_seq", "batch_size", "lora_rank"):
        if getattr(config, name) <= 0:
            raise CommandError(f"--{name.replace('_', '-')} must be positive")
    if config.seq_len < config.k + 3:
        raise CommandError(f"--seq-len must be at least k + 3 = {config.k + 3}")
    for directory in config.data:
        if not Path(directory).is_dir():
            raise CommandError(f"--data {directory}: not a directory")
    check_writable(Path(config.output))


def check_writable(output: Path) -> None:
    try:
        output.mkdir(parents=True, exist_ok=True)
        probe = output / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise CommandError(
            f"--output {output}: not writable ({error.strerror or error})"
        ) from error


def run(args: argparse.Namespace) -> int:
    if args.export_from:
        return export(args)
    if args.evaluate:
        return evaluate(args)
    config = config_from_args(args)
    from sdsat_lsp.model import ModelLoadError
    from sdsat_lsp.training.adapter import SatTokenError
    from sdsat_lsp.training.data import DataError
    from sdsat_lsp.training.loop import Trainer, final_evaluation

    try:
        trainer = Trainer(config, resume=args.resume)
    except (ModelLoadError, SatTokenError, DataError, ValueError) as error:
        raise CommandError(str(error)) from error
    summary = trainer.dataset.summary
    print(
        f"data: {summary.train_sequences} train / {summary.held_out_sequences} held-out "
        f"sequences of {summary.seq_len} tokens from {summary.train_files}+"
        f"{summary.held_out_files} files; SAT = {trainer.sat.text!r} (id {trainer.sat.id})",
        file=sys.stderr,
    )
    trainer.run(progress=not args.no_progress)
    report = final_evaluation(trainer)
    print(json.dumps(report, indent=2))
    return 0


def export(args: argparse.Namespace) -> int:
    """A compact copy of a checkpoint's artifact (adapter in --export-dtype), maybe re-based."""
    import torch

    from sdsat_lsp.model.artifact import ArtifactError, load_adapter, read_artifact, write_artifact

    if args.output is None:
        raise CommandError("--export-from needs --output")
    check_writable(Path(args.output))
    try:
        artifact = read_artifact(args.export_from)
        adapter = load_adapter(args.export_from, artifact)
    except ArtifactError as error:
        raise CommandError(str(error)) from error
    if artifact.full_weights:
        raise CommandError("full-mode checkpoints are complete models: copy the directory instead")
    if args.base:
        artifact = dataclasses.replace(artifact, base=args.base)
    if args.export_rank:
        from sdsat_lsp.training.adapter import reduce_rank

        try:
            adapter = reduce_rank(adapter, args.export_rank)
        except ValueError as error:
            raise CommandError(str(error)) from error
        artifact = dataclasses.replace(artifact, lora_rank=adapter.rank, lora_alpha=adapter.alpha)
    write_artifact(args.output, artifact, adapter, dtype=getattr(torch, args.export_dtype))
    size = sum(path.stat().st_size for path in Path(args.output).iterdir() if path.is_file())
    print(f"wrote {args.output} ({size / 1e6:.1f} MB, step {artifact.step})", file=sys.stderr)
    return 0


def evaluate(args: argparse.Namespace) -> int:
    import torch

    from sdsat_lsp.model import ModelLoadError, load_model
    from sdsat_lsp.model.artifact import read_artifact
    from sdsat_lsp.training.data import build_dataset
    from sdsat_lsp.training.evaluate import (
        greedy_decode,
        humaneval_prompts,
        measure_acceptance,
        measure_sat_accuracy,
        prompts_from_sequences,
    )

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        loaded = load_model(args.evaluate, device=args.device or "cpu", dtype="float32")
        artifact = read_artifact(args.evaluate)
    except (ModelLoadError, ValueError) as error:
        raise CommandError(str(error)) from error
    k = args.k or artifact.trained_k
    sat_id = loaded.spec.sat_id
    if sat_id is None:
        raise CommandError(f"{args.evaluate}: no SAT id")
    prompts_count = args.eval_prompts if args.eval_prompts is not None else 16
    new_tokens = args.eval_new_tokens or 48
    stops = sorted(loaded.spec.stop_ids())
    report: dict[str, Any] = {"artifact": str(args.evaluate), "k": k, "step": artifact.step}
    if args.humaneval is not None:
        prompts = humaneval_prompts(loaded.tokenizer, args.humaneval)
        report["source"] = f"HumanEval prompts ({len(prompts)})"
        # SAT accuracy where decoding needs it: along the model's own greedy continuation
        accuracy_rows, spans = [], []
        for prompt in prompts:
            continuation = greedy_decode(loaded.model, prompt, new_tokens, stops).tokens
            if continuation and continuation[-1] in stops:
                continuation.pop()
            if len(continuation) >= k + 2:
                accuracy_rows.append(torch.tensor(prompt + continuation, dtype=torch.long))
                spans.append((len(prompt), len(prompt) + len(continuation)))
    elif args.data:
        dataset = build_dataset(
            loaded.tokenizer,
            args.data,
            seq_len=args.seq_len or 256,
            held_out_percent=0.0,
            max_train_tokens=200_000,
            exclude=tuple(args.exclude or ()),
        )
        rows = dataset.train  # all of it: these directories are held out from the artifact
        prompts = prompts_from_sequences(rows, prompts_count, (args.seq_len or 256) // 2)
        accuracy_rows = [rows[i] for i in range(min(rows.shape[0], args.eval_sequences or 32))]
        spans = []
        report["source"] = f"{', '.join(args.data)} ({len(prompts)} prompts)"
    else:
        raise CommandError("--evaluate needs --humaneval N or --data DIR")
    accuracy = [
        measure_sat_accuracy(
            loaded.model,
            row.unsqueeze(0),
            k,
            sat_id,
            groups=max(1, row.shape[0] // 4) if not spans else row.shape[0],
            seed=index,
            spans=torch.tensor([spans[index]]) if spans else None,
        )
        for index, row in enumerate(accuracy_rows)
    ]
    report["sat_accuracy"] = _pool_accuracy(accuracy)
    if prompts_count:
        prompts = prompts[:prompts_count] if args.humaneval is None else prompts
        acceptance = measure_acceptance(
            loaded.model,
            prompts,
            k,
            sat_id,
            max_new_tokens=new_tokens,
            stop_ids=stops,
            check_greedy=False,
        )
        report["two_step"] = acceptance.to_json()
    text = json.dumps(report, indent=2)
    print(text)
    if args.report:
        Path(args.report).write_text(text + "\n")
    return 0


def _pool_accuracy(results: list[Any]) -> dict[str, Any]:
    """Group-weighted mean of per-sequence SatAccuracy results."""
    total = sum(result.groups for result in results) or 1
    k = len(results[0].per_position_greedy) if results else 0

    def pooled(attribute: str) -> list[float]:
        return [
            round(sum(getattr(r, attribute)[i] * r.groups for r in results) / total, 4)
            for i in range(k)
        ]

    return {
        "sat_accuracy_greedy": pooled("per_position_greedy"),
        "sat_accuracy_data": pooled("per_position_data"),
        "proxy_accepted_per_round": round(
            sum(r.proxy_accepted * r.groups for r in results) / total, 4
        ),
        "groups": total,
    }
