"""Engine fixtures: a random tiny Llama, and one briefly trained so that SAT drafts are right."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from sdsat_lsp.config import Settings
from sdsat_lsp.engine import Engine
from sdsat_lsp.model import LoadedModel, load_model

CYCLE_LENGTH = 23
TRAINED_K = 4


@pytest.fixture(scope="session")
def tiny_loaded(tiny_model_dir: Path) -> LoadedModel:
    return load_model(str(tiny_model_dir), device="cpu")


@pytest.fixture()
def tiny_engine(tiny_loaded: LoadedModel) -> Engine:
    return Engine(tiny_loaded, Settings(model=str(tiny_loaded.path), device="cpu"))


def cycle_tokens(loaded: LoadedModel) -> list[int]:
    """A fixed random cycle over ordinary byte tokens: next(t) is a function of t."""
    special = set(
        json.loads((loaded.path / "tiny_model.json").read_text())["special_token_ids"].values()
    )
    ordinary = [i for i in range(loaded.vocab_size) if i not in special]
    generator = torch.Generator().manual_seed(7)
    order = torch.randperm(len(ordinary), generator=generator)[:CYCLE_LENGTH].tolist()
    return [ordinary[i] for i in order]


def train_sat_drafts(loaded: LoadedModel, cycle: list[int], k: int, steps: int = 120) -> None:
    """Teach the model the cycle and teach SAT i to predict i+1 tokens ahead.

    SAT groups sit at the end of each sequence, so ordinary tokens never attend to them and
    the plain causal mask is the SDSAT mask here.
    """
    sat_id = loaded.spec.sat_id
    assert sat_id is not None
    model = loaded.model
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    period = len(cycle)
    for _ in range(steps):
        batch_inputs, batch_labels = [], []
        for _ in range(16):
            start = int(torch.randint(period, (1,), generator=generator))
            length = int(torch.randint(4, 3 * period, (1,), generator=generator))
            real = [cycle[(start + i) % period] for i in range(length + k + 1)]
            inputs = real[:length] + [sat_id] * k
            # position i predicts inputs[i+1] for real tokens; SAT j predicts real[length+j+1]
            labels = real[1 : length + 1] + [real[length + j + 1] for j in range(k)]
            batch_inputs.append(inputs)
            batch_labels.append(labels)
        width = max(len(x) for x in batch_inputs)
        inputs_t = torch.zeros(len(batch_inputs), width, dtype=torch.long)
        labels_t = torch.full((len(batch_inputs), width), -100, dtype=torch.long)
        mask = torch.zeros(len(batch_inputs), width, dtype=torch.long)
        for row, (inputs, labels) in enumerate(zip(batch_inputs, batch_labels, strict=True)):
            inputs_t[row, : len(inputs)] = torch.tensor(inputs)
            labels_t[row, : len(labels)] = torch.tensor(labels)
            mask[row, : len(inputs)] = 1
        logits = model(input_ids=inputs_t, attention_mask=mask).logits
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels_t.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()


@pytest.fixture(scope="session")
def sat_trained(tiny_model_dir: Path) -> tuple[LoadedModel, list[int]]:
    """A fresh copy of the tiny model whose SAT drafts get (mostly) accepted."""
    loaded = load_model(str(tiny_model_dir), device="cpu")
    loaded = dataclasses.replace(
        loaded, spec=dataclasses.replace(loaded.spec, trained_k=TRAINED_K, recommended_k=TRAINED_K)
    )
    cycle = cycle_tokens(loaded)
    torch.manual_seed(0)
    train_sat_drafts(loaded, cycle, TRAINED_K)
    return loaded, cycle
