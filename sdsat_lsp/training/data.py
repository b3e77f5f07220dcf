"""Training sequences from local code directories.

Walks the directories (honouring .gitignore: `git ls-files` inside a work tree, a small
gitignore matcher elsewhere), skips binaries, huge files and excluded globs, removes exact
duplicates (modulo trailing whitespace), assigns whole files to train or held-out by a hash of
their content (stable across runs and resumes), tokenizes, and packs each split into fixed-length
sequences separated by EOS. The result is cached as safetensors next to the checkpoints.

Knows nothing of SATs, models or training.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import random
import re
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

CODE_EXTENSIONS = (
    ".py",
    ".pyi",
    ".js",
    ".ts",
    ".tsx",
    ".go",
    ".rs",
    ".c",
    ".h",
    ".cc",
    ".cpp",
    ".hpp",
    ".java",
    ".kt",
    ".rb",
    ".lua",
    ".sh",
    ".swift",
    ".scala",
    ".cs",
)
ALWAYS_SKIPPED_DIRS = {
    ".git",
    ".hg",
    ".svn",
    "__pycache__",
    "node_modules",
    ".venv",
    ".tox",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
}


class DataError(ValueError):
    """No usable training data; the message says what was found and skipped."""


@dataclass(frozen=True)
class DataSummary:
    directories: list[str]
    files_seen: int = 0
    skipped_binary: int = 0
    skipped_large: int = 0
    duplicates: int = 0
    train_files: int = 0
    held_out_files: int = 0
    train_tokens: int = 0
    held_out_tokens: int = 0
    train_sequences: int = 0
    held_out_sequences: int = 0
    seq_len: int = 0
    options: dict[str, object] = field(default_factory=dict)
    # other runs' data folders joined to these rows (merge_datasets); the counts above include them
    merged_from: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CodeDataset:
    train: torch.Tensor  # (N, seq_len) long
    held_out: torch.Tensor  # (M, seq_len) long
    summary: DataSummary
    # self-distilled rows (distill.py): [P, E) per row, where SAT groups may draft; None = anywhere
    train_spans: torch.Tensor | None = None  # (N, 2) long
    held_out_spans: torch.Tensor | None = None  # (M, 2) long


def list_source_files(
    directory: Path, extensions: Sequence[str] = CODE_EXTENSIONS, exclude: Sequence[str] = ()
) -> list[Path]:
    """Files under `directory` with a code extension, not ignored by git, not excluded."""
    directory = directory.resolve()
    if not directory.is_dir():
        raise DataError(f"{directory}: not a directory")
    candidates = _git_files(directory)
    if candidates is None:
        candidates = list(_walk_with_gitignore(directory))
    files = []
    for path in candidates:
        relative = path.relative_to(directory).as_posix()
        parts = relative.split("/")
        if any(part in ALWAYS_SKIPPED_DIRS for part in parts[:-1]):
            continue
        if path.suffix not in extensions or _excluded(relative, exclude):
            continue
        if path.is_file() and not path.is_symlink():
            files.append(path)
    return sorted(files)


def _excluded(relative: str, patterns: Sequence[str]) -> bool:
    parts = relative.split("/")
    for pattern in patterns:
        if fnmatch.fnmatch(relative, pattern) or any(fnmatch.fnmatch(p, pattern) for p in parts):
            return True
    return False


def _git_files(directory: Path) -> list[Path] | None:
    try:
        inside = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "--is-inside-work-tree"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if inside.returncode != 0 or inside.stdout.strip() != "true":
            return None
        # A directory the enclosing repository ignores (e.g. ~/.pyenv/versions) was named on
        # purpose: walk it with its own .gitignore files instead.
        ignored = subprocess.run(
            ["git", "-C", str(directory), "check-ignore", "-q", "."],
            capture_output=True,
            timeout=30,
        )
        if ignored.returncode == 0:
            return None
        listed = subprocess.run(
            [
                "git",
                "-C",
                str(directory),
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
                "--",
                ".",
            ],
            capture_output=True,
            timeout=120,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    names = [name for name in listed.stdout.decode("utf-8", "replace").split("\0") if name]
    return [directory / name for name in names]


def _gitignore_regex(pattern: str) -> tuple[re.Pattern[str], bool, bool] | None:
    """(regex on the path relative to the .gitignore's folder, negated, directories only)."""
    pattern = pattern.rstrip()
    if not pattern or pattern.startswith("#"):
        return None
    negated = pattern.startswith("!")
    pattern = pattern[1:] if negated else pattern
    dir_only = pattern.endswith("/")
    pattern = pattern.rstrip("/")
    anchored = "/" in pattern
    pattern = pattern.lstrip("/")
    regex = ""
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            regex, index = regex + "(?:.*/)?", index + 3
        elif pattern.startswith("**", index):
            regex, index = regex + ".*", index + 2
        elif pattern[index] == "*":
            regex, index = regex + "[^/]*", index + 1
        elif pattern[index] == "?":
            regex, index = regex + "[^/]", index + 1
        else:
            regex, index = regex + re.escape(pattern[index]), index + 1
    prefix = "" if anchored else "(?:.*/)?"
    return re.compile(f"^{prefix}{regex}$"), negated, dir_only


def _walk_with_gitignore(root: Path) -> Iterable[Path]:
    rules: list[tuple[Path, re.Pattern[str], bool, bool]] = []

    def ignored(path: Path, is_dir: bool) -> bool:
        result = False
        for base, regex, negated, dir_only in rules:
            if dir_only and not is_dir:
                continue
            try:
                relative = path.relative_to(base).as_posix()
            except ValueError:
                continue
            if regex.match(relative):
                result = not negated
        return result

    for current, dirnames, filenames in os.walk(root):
        here = Path(current)
        gitignore = here / ".gitignore"
        if gitignore.is_file():
            for line in gitignore.read_text(encoding="utf-8", errors="replace").splitlines():
                parsed = _gitignore_regex(line)
                if parsed is not None:
                    rules.append((here, *parsed))
        dirnames[:] = sorted(
            name
            for name in dirnames
            if name not in ALWAYS_SKIPPED_DIRS and not ignored(here / name, True)
        )
        for name in sorted(filenames):
            if not ignored(here / name, False):
                yield here / name


def read_code(path: Path) -> str | None:
    """The file's text; None if binary or not UTF-8."""
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    if b"\0" in raw[:8192]:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _content_key(text: str) -> str:
    normalised = "\n".join(line.rstrip() for line in text.strip().splitlines())
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


def collect_texts(
    directories: Sequence[Path | str],
    *,
    extensions: Sequence[str],
    exclude: Sequence[str],
    max_file_bytes: int,
    seed: int,
    held_out_percent: float,
    budgets: dict[str, int],
    cost: Callable[[str], int],
) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Code texts per split ("train", "held_out") until each split's budget (in `cost` units)
    is spent, with the counts of files seen and skipped. Files are shuffled by `seed`, exact
    duplicates dropped, and split by a hash of their content (stable across runs)."""
    paths: list[Path] = []
    for directory in directories:
        paths += list_source_files(Path(directory), extensions, exclude)
    counts = dict(files_seen=len(paths), skipped_binary=0, skipped_large=0, duplicates=0)
    random.Random(seed).shuffle(paths)
    seen: set[str] = set()
    texts: dict[str, list[str]] = {"train": [], "held_out": []}
    spent = {"train": 0, "held_out": 0}
    for path in paths:
        try:
            too_large = path.stat().st_size > max_file_bytes
        except OSError:
            continue
        if too_large:
            counts["skipped_large"] += 1
            continue
        text = read_code(path)
        if text is None:
            counts["skipped_binary"] += 1
            continue
        if not text.strip():
            continue
        key = _content_key(text)
        if key in seen:
            counts["duplicates"] += 1
            continue
        seen.add(key)
        split = "held_out" if int(key[:8], 16) % 10_000 < held_out_percent * 100 else "train"
        if spent[split] >= budgets[split]:
            if all(spent[name] >= budgets[name] for name in spent):
                break
            continue
        texts[split].append(text)
        spent[split] += cost(text)
    return texts, counts


def build_dataset(
    tokenizer: Any,
    directories: Sequence[Path | str],
    *,
    seq_len: int,
    held_out_percent: float = 2.0,
    max_train_tokens: int = 4_000_000,
    extensions: Sequence[str] = CODE_EXTENSIONS,
    exclude: Sequence[str] = (),
    max_file_bytes: int = 200_000,
    seed: int = 0,
) -> CodeDataset:
    """Read, filter, deduplicate, split and tokenize; pack each split into (n, seq_len) rows."""
    if seq_len < 8:
        raise DataError("--seq-len must be at least 8")
    held_out_budget = max(int(max_train_tokens * held_out_percent / 100), seq_len * 4)
    texts, counts = collect_texts(
        directories,
        extensions=extensions,
        exclude=exclude,
        max_file_bytes=max_file_bytes,
        seed=seed,
        held_out_percent=held_out_percent,
        budgets={"train": max_train_tokens, "held_out": held_out_budget},
        cost=lambda text: len(text) // 3,  # a rough token count for the budget; exact below
    )
    eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
    packed = {split: _pack(tokenizer, texts[split], seq_len, eos) for split in texts}
    if packed["train"].shape[0] == 0:
        raise DataError(
            f"no training sequences of {seq_len} tokens from {', '.join(map(str, directories))}: "
            f"{counts['files_seen']} code files found ({counts['skipped_binary']} binary, "
            f"{counts['skipped_large']} too large, {counts['duplicates']} duplicates)"
        )
    summary = DataSummary(
        directories=[str(Path(directory).resolve()) for directory in directories],
        merged_from=[],
        **counts,
        train_files=len(texts["train"]),
        held_out_files=len(texts["held_out"]),
        train_tokens=int(packed["train"].numel()),
        held_out_tokens=int(packed["held_out"].numel()),
        train_sequences=int(packed["train"].shape[0]),
        held_out_sequences=int(packed["held_out"].shape[0]),
        seq_len=seq_len,
        options=dict(
            held_out_percent=held_out_percent,
            max_train_tokens=max_train_tokens,
            extensions=list(extensions),
            exclude=list(exclude),
            max_file_bytes=max_file_bytes,
            seed=seed,
        ),
    )
    return CodeDataset(packed["train"], packed["held_out"], summary)


def _pack(tokenizer: Any, texts: list[str], seq_len: int, eos: int) -> torch.Tensor:
    stream: list[int] = []
    for start in range(0, len(texts), 64):
        batch = tokenizer(texts[start : start + 64], add_special_tokens=False)["input_ids"]
        for ids in batch:
            stream += ids
            stream.append(eos)
    rows = len(stream) // seq_len
    return torch.tensor(stream[: rows * seq_len], dtype=torch.long).view(rows, seq_len)


def save_dataset(dataset: CodeDataset, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {"train": dataset.train, "held_out": dataset.held_out}
    if dataset.train_spans is not None and dataset.held_out_spans is not None:
        tensors |= {"train_spans": dataset.train_spans, "held_out_spans": dataset.held_out_spans}
    save_file(tensors, str(directory / "sequences.safetensors"))
    (directory / "summary.json").write_text(json.dumps(asdict(dataset.summary), indent=2) + "\n")


def load_dataset(directory: Path) -> CodeDataset | None:
    """The cached dataset in `directory`, or None when there is none."""
    if not (directory / "sequences.safetensors").is_file():
        return None
    tensors = load_file(str(directory / "sequences.safetensors"))
    summary = DataSummary(**json.loads((directory / "summary.json").read_text()))
    return CodeDataset(
        tensors["train"],
        tensors["held_out"],
        summary,
        tensors.get("train_spans"),
        tensors.get("held_out_spans"),
    )


def merge_datasets(own: CodeDataset, others: Sequence[Path]) -> CodeDataset:
    """`own` with the rows of the datasets saved in `others` (earlier runs' data folders)
    appended, train to train and held out to held out. Rows must have one length and one kind
    (distilled rows carry spans, code rows none), or training would mix what it learns from.

    The other runs may have held out files this run trains on (each run draws its own split):
    the joined held-out rows then pick checkpoints, not measure them; held-out code that no run
    read (`train evaluate --quality-set`) is the measure."""
    if not others:
        return own
    parts = [own]
    for directory in others:
        other = load_dataset(directory)
        if other is None:
            raise DataError(f"--extra-data {directory}: no saved dataset (sequences.safetensors)")
        if other.summary.seq_len != own.summary.seq_len:
            raise DataError(
                f"--extra-data {directory}: rows of {other.summary.seq_len} tokens, "
                f"this run's are {own.summary.seq_len}"
            )
        if (other.train_spans is None) != (own.train_spans is None):
            kind = "distilled" if other.train_spans is not None else "code as written"
            raise DataError(f"--extra-data {directory}: {kind} rows, unlike this run's")
        parts.append(other)

    def joined(name: str) -> torch.Tensor | None:
        tensors = [getattr(part, name) for part in parts]
        return None if tensors[0] is None else torch.cat(tensors)

    train, held_out = joined("train"), joined("held_out")
    assert train is not None and held_out is not None
    summary = replace(
        own.summary,
        train_tokens=int(train.numel()),
        held_out_tokens=int(held_out.numel()),
        train_sequences=int(train.shape[0]),
        held_out_sequences=int(held_out.shape[0]),
        merged_from=[str(directory.resolve()) for directory in others],
    )
    return CodeDataset(train, held_out, summary, joined("train_spans"), joined("held_out_spans"))
