"""The SDSAT training loop: sample SAT groups, compute the loss, step, checkpoint, resume.

One step, exact modes (sat-adapter, sat-embedding): the base model runs the real sequence once
without gradients, keeping its KV cache; then only the SAT groups run, with gradients, on top of
that cache under the SAT rows of the 4D mask. Ordinary tokens are untouched by construction, so
their LM loss is a constant and is skipped, and the backward pass covers SAT positions only.

Full mode (the paper): one pass over real tokens + SAT groups with the full 4D mask; loss =
LM loss at real positions + weighted SAT cross-entropy.

SAT targets: "data" (the true future tokens, as in the paper) or "greedy" (the base model's own
teacher-forced argmax for the same future position — what two-step decoding accepts).

Checkpoints (`OUTPUT/checkpoints/step-NNNNNNN/`) are loadable artifacts plus optimizer state,
trainer state and the resolved config (`train_config.json`); the best one so far (held-out
acceptance proxy) is also exported to `OUTPUT/` itself.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from sdsat_lsp.model.artifact import SdsatArtifact, load_adapter, read_artifact, write_artifact
from sdsat_lsp.model.sat_adapter import SatAdapter, attach_sat_adapter
from sdsat_lsp.training.adapter import (
    EXACT_MODES,
    Mode,
    choose_sat_token,
    new_adapter,
    trainable_parameters,
)
from sdsat_lsp.training.config import TrainConfig
from sdsat_lsp.training.data import (
    CodeDataset,
    build_dataset,
    load_dataset,
    merge_datasets,
    save_dataset,
)
from sdsat_lsp.training.evaluate import (
    SatAccuracy,
    evaluation_engine,
    measure_acceptance,
    measure_sat_accuracy,
    prompts_from_sequences,
)
from sdsat_lsp.training.masking import (
    SatLayout,
    as_model_mask,
    build_sat_batch,
    data_targets,
    greedy_target_positions,
    sample_group_ends,
    sat_group_logits,
)

log = logging.getLogger(__name__)


@dataclass
class TrainState:
    step: int = 0
    elapsed_s: float = 0.0
    sat_targets: int = 0
    real_tokens: int = 0
    best_proxy: float = -1.0
    best_step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class StepResult:
    loss: float
    correct: torch.Tensor  # (k,) correct SAT predictions per position
    count: int  # SAT groups in the step


@dataclass(frozen=True)
class TrainResult:
    output: Path
    state: TrainState
    final: SatAccuracy | None


def sat_position_weights(k: int, decay: float) -> torch.Tensor:
    """(k,) weights decay^(i-1), normalised to sum to k (mean 1)."""
    weights = decay ** torch.arange(k, dtype=torch.float32)
    return weights * k / weights.sum()


def training_step(
    model: Any,
    real: torch.Tensor,
    layout: SatLayout,
    config: TrainConfig,
    sat_id: int,
) -> tuple[torch.Tensor, StepResult]:
    """Loss for one batch of (B, L) real sequences with SAT groups at `layout`; no backward."""
    k = config.k
    weights = sat_position_weights(k, config.sat_position_decay).to(real.device)
    attn = model.config._attn_implementation
    dtype = next(model.parameters()).dtype
    target_positions = greedy_target_positions(layout)  # (B, G, k)
    lm_loss = torch.zeros((), device=real.device)
    if config.mode in EXACT_MODES:
        # logits only where greedy targets are read (all unique t+i), else just one row
        keep = target_positions.flatten().unique()
        with torch.no_grad():
            prefix = model(
                input_ids=real,
                use_cache=True,
                logits_to_keep=keep if config.targets == "greedy" else 1,
            )
        real_logits = prefix.logits
        sat_logits = sat_group_logits(model, layout, sat_id, prefix.past_key_values)
        if config.targets == "greedy":  # keep-index → row of real_logits
            lookup = torch.full((real.shape[1],), -1, dtype=torch.long, device=real.device)
            lookup[keep] = torch.arange(len(keep), device=real.device)
            target_positions = lookup[target_positions]
    else:
        batch = build_sat_batch(real, layout, sat_id)
        logits = model(
            input_ids=batch.input_ids,
            position_ids=batch.position_ids,
            attention_mask=as_model_mask(batch.attention_mask, attn, dtype),
        ).logits
        length = real.shape[1]
        real_logits = logits[:, :length].detach()
        sat_logits = logits[:, length:]
        lm_loss = F.cross_entropy(
            logits[:, : length - 1].flatten(0, 1).float(), real[:, 1:].flatten()
        )
    if config.targets == "greedy":
        flat = target_positions.flatten(1)  # (B, G·k)
        argmax = real_logits.argmax(dim=-1)  # (B, rows)
        targets = argmax.gather(1, flat).view_as(target_positions)
    else:
        targets = data_targets(real, layout)
    sat_logits = sat_logits.view(real.shape[0], layout.groups, k, -1).float()
    per_target = F.cross_entropy(sat_logits.flatten(0, 2), targets.flatten(), reduction="none")
    sat_loss = (per_target.view_as(targets) * weights).mean()
    loss = lm_loss + config.sat_loss_weight * sat_loss
    correct = (sat_logits.argmax(-1) == targets).flatten(0, 1).sum(0)
    return loss, StepResult(float(loss.detach()), correct.cpu(), layout.groups * real.shape[0])


def learning_rate_at(step: int, config: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to 10% at max_steps."""
    peak = config.learning_rate
    if step < config.warmup_steps:
        return peak * (step + 1) / config.warmup_steps
    progress = min(
        1.0, (step - config.warmup_steps) / max(1, config.max_steps - config.warmup_steps)
    )
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def sample_batch(
    dataset: CodeDataset, config: TrainConfig, step: int
) -> tuple[torch.Tensor, SatLayout]:
    """The batch for `step`: a pure function of (seed, step), so a resumed run continues exactly."""
    generator = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
    rows = torch.randint(dataset.train.shape[0], (config.batch_size,), generator=generator)
    real = dataset.train[rows]
    spans = None if dataset.train_spans is None else dataset.train_spans[rows]
    ends = sample_group_ends(
        real.shape[0], real.shape[1], config.sat_groups_per_seq, config.k, generator, spans
    )
    return real, SatLayout(ends, config.k, real.shape[1])


class Trainer:
    """Owns one run: model, adapter, optimizer, data, checkpoints."""

    def __init__(self, config: TrainConfig, *, resume: bool = False) -> None:
        from sdsat_lsp.model import load_model

        self.config = config
        self.output = Path(config.output)
        self.checkpoints = self.output / "checkpoints"
        previous = latest_checkpoint(self.checkpoints) if resume else None
        if previous is not None:
            check_resumable(config, json.loads((previous / "train_config.json").read_text()))
        if config.threads > 0:
            torch.set_num_threads(config.threads)
        loaded = load_model(
            config.base, device=config.device, dtype="float32", registry_adapter=False
        )
        self.loaded = loaded  # its model gets the SAT adapter attached below, in place
        self.model, self.tokenizer = loaded.model, loaded.tokenizer
        self.base_name = config.base
        sat = choose_sat_token(self.tokenizer, self.model, config.sat_token)
        self.sat = sat
        self.dataset = self._dataset()
        if bool((self.dataset.train == sat.id).any()):
            raise ValueError(
                f"the SAT candidate {sat.text!r} (id {sat.id}) occurs in the training data; "
                "pick another with --sat-token ID or --sat-token new"
            )
        if previous is not None:
            adapter = load_adapter(previous)
            if config.mode == "full":
                self.model.load_state_dict(
                    load_file(str(previous / "model.safetensors")), strict=False
                )
        elif config.init_from:
            adapter = initial_adapter(config, sat.id)
        else:
            adapter = new_adapter(
                self.model, config.mode, sat.id, config.lora_rank, config.lora_alpha
            )
        self.adapter: SatAdapter = adapter
        attach_sat_adapter(self.model, adapter)
        self.model.eval()  # no dropout in Llama; eval keeps the base exactly as at inference
        params = trainable_parameters(self.model, adapter, config.mode)
        self.named_trainable = _named_trainable(self.model, adapter, config.mode)
        self.optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.0)
        self.state = TrainState()
        if previous is not None:
            self._load_optimizer(previous)
            self.state = TrainState(**json.loads((previous / "trainer_state.json").read_text()))
            log.info("resumed from %s (step %d)", previous, self.state.step)

    def _dataset(self) -> CodeDataset:
        """This run's rows (cached in OUTPUT/data), then the rows of `--extra-data`."""
        return merge_datasets(self._own_dataset(), [Path(d) for d in self.config.extra_data])

    def _own_dataset(self) -> CodeDataset:
        cache = self.output / "data"
        cached = load_dataset(cache)
        config = self.config
        wanted = dict(
            held_out_percent=config.held_out_percent,
            max_train_tokens=config.max_train_tokens,
            extensions=list(config.extensions),
            exclude=list(config.exclude),
            max_file_bytes=config.max_file_kb * 1024,
            seed=config.seed,
        )
        if config.distill_prompts:
            wanted |= dict(
                distill_prompts=config.distill_prompts,
                distill_points=config.distill_points,
                distill_context=config.distill_context,
                distill_new_tokens=config.distill_new_tokens,
            )
        seq_len = (
            config.distill_context + config.distill_new_tokens
            if config.distill_prompts
            else config.seq_len
        )
        directories = [str(Path(directory).resolve()) for directory in config.data]
        if (
            cached is not None
            and cached.summary.seq_len == seq_len
            and cached.summary.options == wanted
            and cached.summary.directories == directories
        ):
            return cached
        if config.distill_prompts:
            from sdsat_lsp.training.distill import build_distilled_dataset

            dataset = build_distilled_dataset(
                self.model, self.tokenizer, config.data, options=wanted
            )
            save_dataset(dataset, cache)
            return dataset
        dataset = build_dataset(
            self.tokenizer,
            config.data,
            seq_len=config.seq_len,
            held_out_percent=config.held_out_percent,
            max_train_tokens=config.max_train_tokens,
            extensions=config.extensions,
            exclude=config.exclude,
            max_file_bytes=config.max_file_kb * 1024,
            seed=config.seed,
        )
        save_dataset(dataset, cache)
        return dataset

    def artifact(self, evaluation: dict[str, Any] | None = None) -> SdsatArtifact:
        hidden = int(self.adapter.sat_embedding.shape[0])
        return SdsatArtifact(
            base=self.base_name,
            mode=self.config.mode,
            sat_id=self.sat.id,
            sat_token=self.sat.text,
            sat_token_added=self.sat.added,
            trained_k=self.config.k,
            recommended_k=self.config.k,
            vocab_size=int(self.model.get_input_embeddings().weight.shape[0]),
            hidden_size=hidden,
            lora_rank=self.adapter.rank,
            lora_alpha=self.adapter.alpha,
            full_weights=self.config.mode == "full",
            step=self.state.step,
            data=dataclasses.asdict(self.dataset.summary),
            config=self.config.to_json(),
            evaluation=evaluation or {},
        )

    def evaluate(self, sequences: int | None = None) -> SatAccuracy:
        count = sequences or self.config.eval_sequences
        rows, spans = evaluation_rows(self.dataset)
        return measure_sat_accuracy(
            self.model,
            rows[:count],
            self.config.k,
            self.sat.id,
            groups=self.config.sat_groups_per_seq,
            seed=12345,
            spans=None if spans is None else spans[:count],
        )

    def save_checkpoint(self, accuracy: SatAccuracy) -> Path:
        state, config = self.state, self.config
        evaluation = accuracy.to_json()
        state.history.append(
            {
                "step": state.step,
                "elapsed_s": round(state.elapsed_s, 1),
                "sat_targets": state.sat_targets,
                **evaluation,
            }
        )
        directory = self.checkpoints / f"step-{state.step:07d}"
        temporary = self.checkpoints / f".step-{state.step:07d}.tmp"
        shutil.rmtree(temporary, ignore_errors=True)
        write_artifact(
            temporary,
            self.artifact(evaluation),
            self.adapter,
            model=self.model if config.mode == "full" else None,
            tokenizer=self.tokenizer if config.mode == "full" else None,
        )
        self._save_optimizer(temporary)
        (temporary / "train_config.json").write_text(json.dumps(config.to_json(), indent=2) + "\n")
        improved = accuracy.proxy_accepted > state.best_proxy
        if improved:
            state.best_proxy, state.best_step = accuracy.proxy_accepted, state.step
        (temporary / "trainer_state.json").write_text(json.dumps(dataclasses.asdict(state)) + "\n")
        shutil.rmtree(directory, ignore_errors=True)
        temporary.rename(directory)
        if improved:  # OUTPUT/ itself is always the best loadable artifact so far
            write_artifact(
                self.output,
                self.artifact(evaluation),
                self.adapter,
                model=self.model if config.mode == "full" else None,
                tokenizer=self.tokenizer if config.mode == "full" else None,
            )
            (self.output / "train_config.json").write_text(
                json.dumps(config.to_json(), indent=2) + "\n"
            )
        self._prune(keep_step=state.best_step)
        return directory

    def _prune(self, keep_step: int) -> None:
        steps = sorted(self.checkpoints.glob("step-*"))
        old = steps[: -self.config.keep_checkpoints]
        for directory in old:
            if directory.name != f"step-{keep_step:07d}":
                shutil.rmtree(directory, ignore_errors=True)

    def _save_optimizer(self, directory: Path) -> None:
        tensors = {}
        for name, parameter in self.named_trainable:
            for key, value in self.optimizer.state.get(parameter, {}).items():
                tensors[f"{name}::{key}"] = value.detach().cpu().contiguous().reshape(value.shape)
        save_file(tensors, str(directory / "optimizer.safetensors"))

    def _load_optimizer(self, directory: Path) -> None:
        tensors = load_file(str(directory / "optimizer.safetensors"))
        for name, parameter in self.named_trainable:
            state = {
                key.split("::", 1)[1]: value.to(parameter.device)
                for key, value in tensors.items()
                if key.split("::", 1)[0] == name
            }
            if state:
                self.optimizer.state[parameter] = state

    def run(self, progress: bool = True) -> TrainResult:
        from tqdm import tqdm

        config, state = self.config, self.state
        bar = tqdm(
            total=config.max_steps,
            initial=state.step,
            disable=not progress,
            file=sys.stderr,
            dynamic_ncols=True,
            mininterval=5.0,
        )
        window_correct = torch.zeros(config.k)
        window_count = 0.0
        last_checkpoint = time.monotonic()
        started = time.monotonic() - state.elapsed_s
        accuracy: SatAccuracy | None = None
        while state.step < config.max_steps:
            real, layout = sample_batch(self.dataset, config, state.step)
            device = self.model.device
            real = real.to(device)
            layout = SatLayout(layout.group_ends.to(device), layout.k, layout.real_length)
            for group in self.optimizer.param_groups:
                group["lr"] = learning_rate_at(state.step, config)
            loss, result = training_step(self.model, real, layout, config, self.sat.id)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(
                [p for group in self.optimizer.param_groups for p in group["params"]], 1.0
            )
            self.optimizer.step()
            state.step += 1
            state.sat_targets += result.count * config.k
            state.real_tokens += real.numel()
            state.elapsed_s = time.monotonic() - started
            window_correct = window_correct * 0.98 + result.correct.float()
            window_count = window_count * 0.98 + result.count
            accuracies = "/".join(f"{value:.2f}" for value in window_correct / max(window_count, 1))
            bar.set_postfix_str(
                f"loss={result.loss:.3f} acc={accuracies} "
                f"sat/s={state.sat_targets / max(state.elapsed_s, 1e-9):.0f}",
                refresh=False,
            )
            bar.update(1)
            due = time.monotonic() - last_checkpoint >= config.checkpoint_minutes * 60
            if due or state.step == config.max_steps:
                accuracy = self.evaluate()
                path = self.save_checkpoint(accuracy)
                last_checkpoint = time.monotonic()
                log.info("step %d: %s → %s", state.step, accuracy.describe(), path)
        bar.close()
        if accuracy is None and state.step > 0:
            accuracy = self.evaluate()
        return TrainResult(self.output, state, accuracy)


def final_evaluation(trainer: Trainer) -> dict[str, Any]:
    """SAT accuracy + two-step acceptance (the engine's `sdsat`) of the model as it is now;
    saved as evaluation.json."""
    config = trainer.config
    report: dict[str, Any] = {
        "step": trainer.state.step,
        "best_step": trainer.state.best_step,
        "elapsed_s": round(trainer.state.elapsed_s, 1),
        "sat_targets": trainer.state.sat_targets,
        **trainer.evaluate().to_json(),
    }
    rows, spans = evaluation_rows(trainer.dataset)
    if config.eval_prompts > 0:
        if spans is None:
            prompts = prompts_from_sequences(rows, config.eval_prompts, config.seq_len // 2)
        else:  # a distilled row's prompt is everything before its continuation
            count = config.eval_prompts
            starts = spans[:count, 0].tolist()
            prompts = [row[:end].tolist() for row, end in zip(rows[:count], starts, strict=True)]
        engine = evaluation_engine(trainer.loaded, trainer.sat.id, config.k)
        acceptance = measure_acceptance(engine, prompts, max_new_tokens=config.eval_new_tokens)
        report["two_step"] = acceptance.to_json()
    (trainer.output / "evaluation.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def _named_trainable(
    model: Any, adapter: SatAdapter, mode: Mode
) -> list[tuple[str, torch.nn.Parameter]]:
    named = [(f"adapter.{name}", p) for name, p in adapter.named_parameters()]
    if mode == "full":
        named += [(f"model.{name}", p) for name, p in model.named_parameters()]
    return named


def evaluation_rows(dataset: CodeDataset) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The held-out rows and their spans, or the training rows when nothing was held out."""
    if dataset.held_out.shape[0]:
        return dataset.held_out, dataset.held_out_spans
    return dataset.train, dataset.train_spans


def initial_adapter(config: TrainConfig, sat_id: int) -> SatAdapter:
    """The adapter of the artifact `config.init_from`, checked against this run's settings."""
    artifact = read_artifact(config.init_from)
    expected = dict(mode=config.mode, sat_id=sat_id, lora_rank=config.lora_rank)
    found = dict(mode=artifact.mode, sat_id=artifact.sat_id, lora_rank=artifact.lora_rank)
    if found != expected:
        raise ValueError(
            f"--init-from {config.init_from}: the artifact has {found}, this run wants {expected}"
        )
    return load_adapter(config.init_from, artifact)  # float32 on CPU


def latest_checkpoint(checkpoints: Path) -> Path | None:
    steps = sorted(
        path for path in checkpoints.glob("step-*") if (path / "train_config.json").is_file()
    )
    return steps[-1] if steps else None


def check_resumable(config: TrainConfig, saved: dict[str, Any]) -> None:
    current = config.to_json()
    differing = [
        key
        for key, value in saved.items()
        if key not in TrainConfig.RESUMABLE
        and key in current
        and json.loads(json.dumps(current[key])) != value
    ]
    if differing:
        raise ValueError(
            "--resume: these settings differ from the checkpoint's train_config.json: "
            + ", ".join(f"{key} ({saved[key]!r} → {current[key]!r})" for key in differing)
        )
