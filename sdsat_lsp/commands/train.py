"""`sdsat-lsp train`: SDSAT fine-tuning (`run`), artifact evaluation and export.

    sdsat-lsp train --base MODEL --data DIR [DIR...] --k K --mode MODE --output DIR [--resume]
    sdsat-lsp train evaluate ARTIFACT [--humaneval N | --data DIR... | --quality-set SETS
        --points N] [--eval-prompts N] [--eval-ks K...] [--strategies S...]
    sdsat-lsp train export CHECKPOINT --output DIR [--base NAME] [--export-dtype float16]
        [--export-rank R]

The older spellings `train --evaluate ARTIFACT ...` and `train --export-from CHECKPOINT ...`
still work. Flags and defaults come from `TrainConfig` (one declaration, one help text each).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path
from typing import Any

from sdsat_lsp.commands.arguments import add_config_flags, config_defaults, config_values
from sdsat_lsp.commands.errors import CommandError
from sdsat_lsp.training.config import TrainConfig

log = logging.getLogger(__name__)
_REQUIRED_FOR_TRAINING = ("base", "data", "output")
# TrainConfig fields that `train evaluate` reads (their defaults are TrainConfig's).
_EVALUATE_FIELDS = (
    "data",
    "k",
    "seq_len",
    "eval_prompts",
    "eval_new_tokens",
    "eval_sequences",
    "exclude",
    "device",
    "threads",
)
_EXPORT_FIELDS = ("output", "base")
# Tokens `train evaluate --data` reads: enough prompts and rows, far less than a training run.
_EVALUATE_MAX_TOKENS = 200_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_flags(parser, TrainConfig)
    parser.add_argument(
        "--resume", action="store_true", help="continue from the latest checkpoint under --output"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    # The older spellings of `train export` and `train evaluate`.
    parser.add_argument("--export-from", metavar="CHECKPOINT", help="same as `train export`")
    parser.add_argument("--evaluate", metavar="ARTIFACT", help="same as `train evaluate`")
    _add_export_flags(parser)
    _add_evaluate_flags(parser)
    jobs = parser.add_subparsers(dest="job", metavar="JOB")
    evaluate_parser = jobs.add_parser(
        "evaluate",
        help="SAT accuracy per position and two-step acceptance of an artifact",
        description="SAT accuracy per position and two-step acceptance of an artifact",
    )
    evaluate_parser.add_argument("artifact", help="an artifact or checkpoint directory")
    add_config_flags(evaluate_parser, TrainConfig, _EVALUATE_FIELDS)
    _add_evaluate_flags(evaluate_parser)
    export_parser = jobs.add_parser(
        "export",
        help="write a checkpoint's artifact (adapter + sdsat.json) to --output",
        description="write a checkpoint's artifact (adapter + sdsat.json) to --output",
    )
    export_parser.add_argument("checkpoint", help="a checkpoint directory")
    add_config_flags(export_parser, TrainConfig, _EXPORT_FIELDS)
    _add_export_flags(export_parser)


def _add_export_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--export-dtype",
        choices=["float32", "float16", "bfloat16"],
        default="float16",
        help="adapter dtype of the exported artifact (default: float16)",
    )
    parser.add_argument(
        "--export-rank",
        type=int,
        default=0,
        help="export: truncate the LoRA to this rank (best approximation by SVD)",
    )


def _add_evaluate_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--humaneval",
        type=int,
        metavar="N",
        default=None,
        help="evaluate: use N HumanEval prompts (0 = all 164)",
    )
    parser.add_argument(
        "--quality-set",
        metavar="SETS",
        help="evaluate: completion points from these held-out quality sets, comma-separated "
        "(e.g. marshmallow,tomlkit; `make quality-data` fetches them)",
    )
    parser.add_argument(
        "--points",
        type=int,
        metavar="N",
        default=24,
        help="evaluate --quality-set: points, spread over sets and kinds (default: 24)",
    )
    parser.add_argument(
        "--prompt-tokens",
        type=int,
        metavar="N",
        default=512,
        help="evaluate --quality-set: prompt budget, whole lines before the cursor (default: 512)",
    )
    parser.add_argument(
        "--eval-ks",
        type=int,
        nargs="+",
        metavar="K",
        help="evaluate --quality-set: drafts per round to measure (default: --k, else the "
        "artifact's trained k)",
    )
    parser.add_argument(
        "--strategies",
        nargs="+",
        choices=["sdsat", "sdsat-tree"],
        default=["sdsat", "sdsat-tree"],
        help="evaluate --quality-set: the engine's SAT strategies to measure "
        "(default: sdsat sdsat-tree)",
    )
    parser.add_argument(
        "--compare",
        metavar="REPORT",
        help="evaluate --quality-set: an earlier report on the same points (another adapter); "
        "adds the paired difference in tokens per pass per strategy and k, with its 95 %% "
        "bootstrap interval",
    )
    parser.add_argument("--report", metavar="FILE", help="evaluate: write the JSON here")


def run(args: argparse.Namespace) -> int:
    job = getattr(args, "job", None)
    if job == "export" or args.export_from:
        return export(args, Path(args.checkpoint if job == "export" else args.export_from))
    if job == "evaluate" or args.evaluate:
        return evaluate(args, args.artifact if job == "evaluate" else args.evaluate)
    return train(args)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    missing = [f"--{name}" for name in _REQUIRED_FOR_TRAINING if getattr(args, name) is None]
    if missing:
        raise CommandError(f"missing {', '.join(missing)}")
    config = TrainConfig(**config_values(args, TrainConfig))
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
    for directory in config.extra_data:
        if not (Path(directory) / "sequences.safetensors").is_file():
            raise CommandError(
                f"--extra-data {directory}: no saved dataset (an earlier run's OUTPUT/data)"
            )
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


def train(args: argparse.Namespace) -> int:
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
        f"{summary.held_out_files} files"
        + (f" and {len(summary.merged_from)} earlier runs" if summary.merged_from else "")
        + f"; SAT = {trainer.sat.text!r} (id {trainer.sat.id})",
        file=sys.stderr,
    )
    trainer.run(progress=not args.no_progress)
    report = final_evaluation(trainer)
    print(json.dumps(report, indent=2))
    return 0


def export(args: argparse.Namespace, checkpoint: Path) -> int:
    """A compact copy of a checkpoint's artifact (adapter in --export-dtype), maybe re-based."""
    import torch

    from sdsat_lsp.model.artifact import ArtifactError, load_adapter, read_artifact, write_artifact

    if args.output is None:
        raise CommandError("export needs --output")
    check_writable(Path(args.output))
    try:
        artifact = read_artifact(checkpoint)
        adapter = load_adapter(checkpoint, artifact)
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


def evaluate(args: argparse.Namespace, artifact_dir: str) -> int:
    import torch

    from sdsat_lsp.model import ModelLoadError, load_model
    from sdsat_lsp.model.artifact import read_artifact
    from sdsat_lsp.training.evaluate import evaluation_engine

    # TrainConfig's defaults under the flags given; k defaults to the artifact's trained k.
    given = config_values(args, TrainConfig)
    options = config_defaults(TrainConfig) | given
    if options["threads"]:
        torch.set_num_threads(options["threads"])
    try:
        loaded = load_model(artifact_dir, device=options["device"], dtype="float32")
        # a registry name (e.g. smollm2-135m) evaluates the adapter its entry ships
        adapter_dir = (
            artifact_dir if Path(artifact_dir).is_dir() else loaded.spec.sat_adapter_path()
        )
        if adapter_dir is None:
            raise CommandError(f"{artifact_dir}: neither an artifact directory nor a SAT model")
        artifact = read_artifact(adapter_dir)
    except (ModelLoadError, ValueError) as error:
        raise CommandError(str(error)) from error
    k = given.get("k") or artifact.trained_k
    sat_id = loaded.spec.sat_id
    if sat_id is None:
        raise CommandError(f"{artifact_dir}: no SAT id")
    engine = evaluation_engine(loaded, sat_id, k, options["threads"])
    report: dict[str, Any] = {
        "artifact": str(adapter_dir),
        "k": k,
        "trained_k": artifact.trained_k,
        "step": artifact.step,
    }
    if args.compare and not args.quality_set:
        raise CommandError("--compare pairs held-out points: it needs --quality-set")
    if args.quality_set:
        earlier = _read_report(args.compare) if args.compare else None
        report |= _evaluate_held_out(args, engine, options, k, earlier)
        if earlier is not None:
            report["compared_with"] = compare_reports(report, earlier, args.compare)
    else:
        report |= _evaluate_prompts(args, engine, given, options, k)
    text = json.dumps(report, indent=2)
    print(text)
    if args.report:
        Path(args.report).write_text(text + "\n")
    return 0


def _evaluate_prompts(
    args: argparse.Namespace,
    engine: Any,
    given: dict[str, Any],
    options: dict[str, Any],
    k: int,
) -> dict[str, Any]:
    """HumanEval prompts or --data rows: SAT accuracy and two-step acceptance at k."""
    import torch

    from sdsat_lsp.training.data import build_dataset
    from sdsat_lsp.training.evaluate import (
        greedy_continuation,
        humaneval_prompts,
        measure_acceptance,
        prompts_from_sequences,
    )

    loaded = engine.loaded
    prompts_count = options["eval_prompts"]
    new_tokens = options["eval_new_tokens"]
    seq_len = options["seq_len"]
    report: dict[str, Any] = {}
    if args.humaneval is not None:
        prompts = humaneval_prompts(loaded.tokenizer, args.humaneval)
        report["source"] = f"HumanEval prompts ({len(prompts)})"
        # SAT accuracy where decoding needs it: along the model's own greedy continuation
        accuracy_rows, spans = [], []
        for prompt in prompts:
            continuation = greedy_continuation(engine, prompt, new_tokens)
            if len(continuation) >= k + 2:
                accuracy_rows.append(torch.tensor(prompt + continuation, dtype=torch.long))
                spans.append((len(prompt), len(prompt) + len(continuation)))
    elif "data" in given:
        dataset = build_dataset(
            loaded.tokenizer,
            given["data"],
            seq_len=seq_len,
            held_out_percent=0.0,
            max_train_tokens=_EVALUATE_MAX_TOKENS,
            exclude=options["exclude"],
        )
        rows = dataset.train  # all of it: these directories are held out from the artifact
        prompts = prompts_from_sequences(rows, prompts_count, seq_len // 2)
        accuracy_rows = [rows[i] for i in range(min(rows.shape[0], options["eval_sequences"]))]
        spans = []
        report["source"] = f"{', '.join(given['data'])} ({len(prompts)} prompts)"
    else:
        raise CommandError("evaluate needs --humaneval N, --data DIR or --quality-set SETS")
    report["sat_accuracy"] = _accuracy(engine, accuracy_rows, spans, k)
    if prompts_count:
        prompts = prompts[:prompts_count] if args.humaneval is None else prompts
        acceptance = measure_acceptance(engine, prompts, max_new_tokens=new_tokens)
        report["two_step"] = acceptance.to_json()
    return report


def _evaluate_held_out(
    args: argparse.Namespace,
    engine: Any,
    options: dict[str, Any],
    k: int,
    earlier: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Quality-set completion points: the `ar` output per point, then each strategy × k through
    the engine, checked against it; SAT accuracy along those outputs at the largest k."""
    import torch

    from sdsat_lsp.bench.quality.held_out import UnknownSet, held_out_points, prefix
    from sdsat_lsp.bench.quality.sets import QualityDataMissing
    from sdsat_lsp.training.evaluate import greedy_continuation, measure_acceptance, prefix_prompt

    ks = args.eval_ks or [k]
    if args.points <= 0 or args.prompt_tokens <= 0 or min(ks) <= 0:
        raise CommandError("--points, --prompt-tokens and --eval-ks must be positive")
    names = [name.strip() for name in args.quality_set.split(",") if name.strip()]
    try:
        points, source = held_out_points(names, args.points)
    except (UnknownSet, QualityDataMissing) as error:
        raise CommandError(str(error)) from error
    if not points:
        raise CommandError(f"no completion points in {args.quality_set}")
    if earlier is not None and earlier.get("source", {}).get("names") != source["names"]:
        raise CommandError(f"--compare {args.compare}: measured on other points (--points, sets)")
    new_tokens = options["eval_new_tokens"]
    prompts = [prefix_prompt(engine, prefix(point), args.prompt_tokens) for point in points]
    greedy = [greedy_continuation(engine, prompt, new_tokens) for prompt in prompts]
    source |= {
        "prompt_tokens": args.prompt_tokens,
        "mean_prompt_tokens": round(sum(map(len, prompts)) / len(prompts), 1),
        "new_tokens": new_tokens,
    }
    rows, spans = [], []
    for prompt, continuation in zip(prompts, greedy, strict=True):
        if len(continuation) >= max(ks) + 2:
            rows.append(torch.tensor(prompt + continuation, dtype=torch.long))
            spans.append((len(prompt), len(prompt) + len(continuation)))
    acceptance = [
        measure_acceptance(
            engine, prompts, max_new_tokens=new_tokens, strategy=strategy, k=each, greedy=greedy
        ).to_json()
        for each in ks
        for strategy in args.strategies
    ]
    return {
        "source": source,
        "sat_accuracy": _accuracy(engine, rows, spans, max(ks)),
        "acceptance": acceptance,
        "all_equal_ar": all(row["equals_greedy"] == row["prompts"] for row in acceptance),
    }


def _read_report(path: str) -> dict[str, Any]:
    """An earlier `train evaluate --quality-set` report (read before the long run starts)."""
    try:
        report = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise CommandError(f"--compare {path}: {error}") from error
    rows = report.get("acceptance") if isinstance(report, dict) else None
    if not isinstance(rows, list) or not all(
        isinstance(row, dict) and {"strategy", "k", "tokens_per_pass"} <= row.keys() for row in rows
    ):
        raise CommandError(f"--compare {path}: not a train evaluate --quality-set report")
    return dict(report)


def compare_reports(now: dict[str, Any], earlier: dict[str, Any], path: str) -> dict[str, Any]:
    """Per strategy and k measured in both: tokens per pass now minus then, paired over the same
    points (each point's tokens / decode passes), mean and 95 % bootstrap interval."""
    from sdsat_lsp.bench.quality.metrics import paired_difference

    then = {(row["strategy"], row["k"]): row for row in earlier["acceptance"]}
    differences = []
    for row in now["acceptance"]:
        old = then.get((row["strategy"], row["k"]))
        if old is None or not old.get("per_prompt"):
            continue
        per_pass = [
            [tokens / max(passes, 1) for tokens, passes in r["per_prompt"]] for r in (row, old)
        ]
        interval = paired_difference(per_pass[0], per_pass[1])
        differences.append(
            {
                "strategy": row["strategy"],
                "k": row["k"],
                "tokens_per_pass": [old["tokens_per_pass"], row["tokens_per_pass"]],
                "paired_difference": {
                    key: round(value, 4) if isinstance(value, float) else value
                    for key, value in interval.to_dict().items()
                },
            }
        )
    if not differences:  # the run's own figures are still worth writing
        log.warning("--compare %s: no strategy and k with per-point counts in both", path)
    return {"report": path, "artifact": earlier.get("artifact"), "differences": differences}


def _accuracy(engine: Any, rows: list[Any], spans: list[tuple[int, int]], k: int) -> dict[str, Any]:
    """Teacher-forced SAT accuracy per position, pooled over rows (groups inside `spans`)."""
    import torch

    from sdsat_lsp.training.evaluate import measure_sat_accuracy

    sat_id = engine.loaded.spec.sat_id
    accuracy = [
        measure_sat_accuracy(
            engine.loaded.model,
            row.unsqueeze(0),
            k,
            sat_id,
            groups=max(1, row.shape[0] // 4) if not spans else row.shape[0],
            seed=index,
            spans=torch.tensor([spans[index]]) if spans else None,
        )
        for index, row in enumerate(rows)
    ]
    return _pool_accuracy(accuracy)


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
