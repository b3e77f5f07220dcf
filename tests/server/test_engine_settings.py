"""Which settings reload the model: one list (config.py) that the server and `bench lsp` use."""

from __future__ import annotations

import dataclasses

from sdsat_lsp.bench.lsp_replay import SERVER_SETTINGS
from sdsat_lsp.config import ENGINE_SETTINGS, REQUEST_SETTINGS, Settings


def test_every_setting_is_classified_as_engine_or_per_request() -> None:
    """A new setting must be put in one list: in neither, a change to a model-affecting one
    would silently keep the old engine running."""
    fields = [f.name for f in dataclasses.fields(Settings)]
    engine, request = set(ENGINE_SETTINGS), set(REQUEST_SETTINGS)
    assert not engine & request
    assert sorted(engine | request) == sorted(fields)
    assert len(ENGINE_SETTINGS) == len(engine) and len(REQUEST_SETTINGS) == len(request)


def test_bench_lsp_sets_every_engine_setting() -> None:
    assert set(ENGINE_SETTINGS) <= set(SERVER_SETTINGS)
    assert "max_new_tokens" in SERVER_SETTINGS  # the replay's own default (32)
