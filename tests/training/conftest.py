"""Fixtures for training tests: tiny real Llama models (random, or briefly pre-trained on a
repetitive corpus so that their greedy output is predictable) and small code corpora."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_model import build_tiny_model

SAT_ID = 6  # "<SAT>" in tests/tiny_model.py (checked by the `sat_id` fixture)


def write_corpus(directory: Path, files: int = 30, seed: int = 0) -> Path:
    """Repetitive Python: long deterministic spans between random numbers."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for index in range(files):
        blocks = []
        for _ in range(25):
            number = rng.randint(0, 99)
            blocks.append(f"def function_{number}(value):\n    return value + {number}\n")
        (directory / f"module_{index}.py").write_text("\n".join(blocks))
    return directory


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def sat_id(tiny_dir: Path) -> int:
    ids = json.loads((tiny_dir / "tiny_model.json").read_text())["special_token_ids"]
    assert ids["<SAT>"] == SAT_ID
    return SAT_ID


@pytest.fixture(scope="session")
def pretrained_tiny_dir(tmp_path_factory: pytest.TempPathFactory, corpus: Path) -> Path:
    """The tiny model after a few hundred plain LM steps on the corpus (a second or two)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    directory = build_tiny_model(tmp_path_factory.mktemp("pretrained"))
    tokenizer = AutoTokenizer.from_pretrained(directory)
    model = AutoModelForCausalLM.from_pretrained(directory)
    text = "\n".join(path.read_text() for path in sorted(corpus.glob("*.py")))
    ids = torch.tensor(tokenizer(text, add_special_tokens=False)["input_ids"])
    rows = ids[: len(ids) // 64 * 64].view(-1, 64)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(250):
        batch = rows[torch.randint(len(rows), (16,), generator=generator)]
        loss = model(input_ids=batch, labels=batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    model.save_pretrained(directory, safe_serialization=True)
    return directory
