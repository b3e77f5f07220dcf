"""Self-distilled training rows: the base model's own greedy continuations of code prompts.

Two-step decoding accepts a draft only when it equals the model's argmax *given the model's own
earlier tokens*. Teacher-forced targets on human-written code ask for the model's guess given
the human's tokens, which stops being what decoding verifies as soon as the two diverge; and
completion prompts (a signature and a docstring, a cursor at a line start) lead to text unlike
the middle of a library file. So prompts are cut where completion happens, the base model
continues each greedily, and SAT groups sit only inside the continuation (`spans`), where every
greedy target is exactly the token decoding will verify.

Where completion happens (`--distill-points`): `docstring-lines` (the first recipe: after a
function's docstring, at a line start in a body; Python's `ast`) or `editor` (the quality
benchmark's kinds, tree-sitter: where an editor asks, and where held-out acceptance is measured).

Rows are `context + new_tokens` long: the prompt's last tokens, its continuation, then EOS
padding after an early stop. `spans[i] = (P, E)`: the continuation is row[P:E].
"""

from __future__ import annotations

import ast
import random
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from sdsat_lsp.training.data import CodeDataset, DataError, DataSummary, collect_texts

DOCSTRING_SHARE = 0.6  # the rest are cuts at a line start inside a function body


@dataclass(frozen=True)
class DistilledRows:
    rows: torch.Tensor  # (N, context + new_tokens) long
    spans: torch.Tensor  # (N, 2) long: [P, E) = the generated continuation


def completion_points(text: str, rng: random.Random, per_file: int) -> list[int]:
    """Character offsets where a completion would be asked for: just after a function's
    docstring (the HumanEval shape) and at line starts inside function bodies."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError):
        return []
    line_starts = [0]
    for index, char in enumerate(text):
        if char == "\n":
            line_starts.append(index + 1)
    after_docstring: list[int] = []
    in_body: list[int] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or not node.body:
            continue
        first, last = node.body[0], node.body[-1]
        has_doc = (
            isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)
        )
        end = last.end_lineno or last.lineno
        if has_doc and len(node.body) > 1 and first.end_lineno is not None:
            after_docstring.append(first.end_lineno)  # 1-based line after the docstring
        start = (first.end_lineno if has_doc else first.lineno - 1) or 0
        if end > start + 1:
            in_body.append(rng.randrange(start + 1, end))
    rng.shuffle(after_docstring)
    rng.shuffle(in_body)
    docstrings = round(per_file * DOCSTRING_SHARE)
    docstrings = min(docstrings, len(after_docstring))
    lines = after_docstring[:docstrings] + in_body[: per_file - docstrings]
    return sorted({line_starts[line] for line in lines if line < len(line_starts)})


def editor_points(text: str, rng: random.Random, per_file: int) -> list[int]:
    """Cursor offsets of the completion-point kinds (context/completion_points.py), taken
    in turn: after the indentation of a statement line in a body (`next_line`), at the end of a
    `def` line (`body`), inside a statement line after a non-word character (`rest_of_line`).
    The prompt is the text before the cursor, so the cut's removed text does not matter."""
    from sdsat_lsp.context.completion_points import KINDS, candidates
    from sdsat_lsp.context.document import Document

    document = Document.create("file:///distill.py", "python", text)
    pools = []
    for kind in KINDS:
        found = [cursor for _, cursor, _, _ in candidates(document, kind, rng)]
        rng.shuffle(found)
        pools.append(found)
    chosen: list[int] = []
    while len(chosen) < per_file and any(pools):
        for pool in pools:
            if pool and len(chosen) < per_file:
                chosen.append(pool.pop())
    return sorted(set(chosen))


def cursor_offsets(text: str, rng: random.Random, per_file: int, points: str) -> list[int]:
    if points == "editor":
        return editor_points(text, rng, per_file)
    return completion_points(text, rng, per_file)


def prompt_tokens(
    tokenizer: Any,
    texts: Iterable[str],
    context: int,
    seed: int,
    per_file: int,
    points: str = "docstring-lines",
) -> list[list[int]]:
    """Up to `per_file` completion prompts per text, each its last ≤ `context` tokens."""
    rng = random.Random(seed)
    prompts: list[list[int]] = []
    for text in texts:
        for offset in cursor_offsets(text, rng, per_file, points):
            window = text[max(0, offset - context * 8) : offset]
            if offset - context * 8 > 0:  # start at a line boundary, not inside a token
                window = window[window.find("\n") + 1 :]
            ids = tokenizer(window, add_special_tokens=False)["input_ids"][-context:]
            if len(ids) >= 16:
                prompts.append(ids)
    return prompts


@torch.inference_mode()
def greedy_continuations(
    model: Any,
    prompts: Sequence[Sequence[int]],
    *,
    context: int,
    new_tokens: int,
    stop_ids: Iterable[int],
    pad_id: int,
    batch_size: int = 32,
    min_new: int = 8,
    progress: bool = True,
) -> DistilledRows:
    """Greedy continuations, batched without padding: prompts sorted by length, each batch cut
    to its shortest prompt (from the left). Rows whose continuation stops before `min_new`
    tokens are dropped."""
    device = next(model.parameters()).device
    stops = torch.tensor(sorted(set(stop_ids)), dtype=torch.long, device=device)
    ordered = sorted(prompts, key=len)
    width = context + new_tokens
    rows: list[torch.Tensor] = []
    spans: list[tuple[int, int]] = []
    bar = tqdm(
        total=len(ordered),
        desc="distilling",
        unit="prompt",
        disable=not progress,
        file=sys.stderr,
        mininterval=5.0,
    )
    for start in range(0, len(ordered), batch_size):
        chunk = ordered[start : start + batch_size]
        bar.update(len(chunk))
        length = min(len(prompt) for prompt in chunk)
        inputs = torch.tensor([list(prompt[-length:]) for prompt in chunk], device=device)
        output = model(input_ids=inputs, use_cache=True, logits_to_keep=1)
        generated = []
        for _ in range(new_tokens):
            token = output.logits[:, -1].argmax(-1)
            generated.append(token)
            output = model(
                input_ids=token.unsqueeze(1),
                past_key_values=output.past_key_values,
                use_cache=True,
                logits_to_keep=1,
            )
        tokens = torch.stack(generated, dim=1)  # (B, new_tokens)
        stopped = torch.isin(tokens, stops)
        # length of each continuation = index of its first stop token (or all of it)
        lengths = torch.where(stopped.any(1), stopped.int().argmax(1), new_tokens)
        for row, prompt, count in zip(tokens.cpu(), inputs.cpu(), lengths.tolist(), strict=True):
            if count < min_new:
                continue
            line = torch.full((width,), pad_id, dtype=torch.long)
            line[:length] = prompt
            line[length : length + count] = row[:count]
            rows.append(line)
            spans.append((length, length + count))
    bar.close()
    if not rows:
        empty = torch.zeros(0, width, dtype=torch.long)
        return DistilledRows(empty, torch.zeros(0, 2, dtype=torch.long))
    return DistilledRows(torch.stack(rows), torch.tensor(spans, dtype=torch.long))


def build_distilled_dataset(
    model: Any, tokenizer: Any, directories: Sequence[str], *, options: dict[str, Any]
) -> CodeDataset:
    """Prompts from the files under `directories` (split by file, as `build_dataset`), each
    continued greedily by `model`; `options` are the data settings, recorded in the summary."""
    prompts_wanted = int(options["distill_prompts"])
    context, new_tokens = int(options["distill_context"]), int(options["distill_new_tokens"])
    held_out_prompts = max(8, round(prompts_wanted * float(options["held_out_percent"]) / 100))
    per_file = 4
    points = str(options["distill_points"])
    texts, counts = collect_texts(
        directories,
        extensions=[".py"],  # completion points come from Python's own parser
        exclude=options["exclude"],
        max_file_bytes=int(options["max_file_bytes"]),
        seed=int(options["seed"]),
        held_out_percent=float(options["held_out_percent"]),
        budgets={"train": prompts_wanted, "held_out": held_out_prompts},
        cost=lambda text: len(cursor_offsets(text, random.Random(0), per_file, points)),
    )
    eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
    stops = {eos, *getattr(tokenizer, "all_special_ids", [])}
    distilled = {}
    for split, budget in (("train", prompts_wanted), ("held_out", held_out_prompts)):
        prompts = prompt_tokens(
            tokenizer, texts[split], context, int(options["seed"]), per_file, points
        )
        distilled[split] = greedy_continuations(
            model,
            prompts[:budget],
            context=context,
            new_tokens=new_tokens,
            stop_ids=stops,
            pad_id=eos,
        )
    train, held_out = distilled["train"], distilled["held_out"]
    if train.rows.shape[0] == 0:
        raise DataError(
            f"no completion prompts from {', '.join(map(str, directories))}: "
            f"{counts['files_seen']} Python files found"
        )
    summary = DataSummary(
        directories=[str(Path(directory).resolve()) for directory in directories],
        merged_from=[],
        **counts,
        train_files=len(texts["train"]),
        held_out_files=len(texts["held_out"]),
        train_tokens=int((train.spans[:, 1] - train.spans[:, 0]).sum()),
        held_out_tokens=int((held_out.spans[:, 1] - held_out.spans[:, 0]).sum()),
        train_sequences=int(train.rows.shape[0]),
        held_out_sequences=int(held_out.rows.shape[0]),
        seq_len=context + new_tokens,
        options=options,
    )
    return CodeDataset(train.rows, held_out.rows, summary, train.spans, held_out.spans)
