"""Shared fixtures: tiny real models built in the test, and the default model when cached."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from tiny_model import build_tiny_model


def default_model_cached() -> bool:
    from sdsat_lsp.config import DEFAULT_MODEL
    from sdsat_lsp.model.fetch import is_fetched
    from sdsat_lsp.model.registry import find_spec

    spec = find_spec(DEFAULT_MODEL)
    return spec is not None and is_fetched(spec)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gpu_tests = [item for item in items if "gpu" in item.keywords]
    if gpu_tests:
        import torch  # only when a gpu test was collected: context-only runs stay fast

        if not torch.cuda.is_available():
            for item in gpu_tests:
                item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU"))
    if default_model_cached():
        return
    skip = pytest.mark.skip(reason="default model not cached: run `make fetch-model`")
    for item in items:
        if "default_model" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))
