"""The remote backend's pure parts: SSE lines, the endpoint, Retry-After, safe stop strings,
settings, and that it starts without torch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sdsat_lsp.config import Settings, settings_from_wire
from sdsat_lsp.context import Document, Position, build_prompt
from sdsat_lsp.remote.backend import server_stop_strings
from sdsat_lsp.remote.http import Endpoint, EngineError, error_message, retry_after_seconds
from sdsat_lsp.remote.sse import Chunk, MalformedStream, parse_line


def test_sse_lines() -> None:
    assert parse_line("") is None
    assert parse_line(": keep-alive") is None
    assert parse_line("event: completion") is None
    assert parse_line("data: [DONE]") == Chunk(done=True)
    chunk = parse_line('data: {"choices": [{"text": "ab", "finish_reason": null}]}')
    assert chunk == Chunk(text="ab")
    last = parse_line('data:{"choices":[{"text":"","finish_reason":"length"}]}')
    assert last is not None and last.finish_reason == "length"
    usage = parse_line('data: {"choices": [], "usage": {"prompt_tokens": 3}}')
    assert usage is not None and usage.usage == {"prompt_tokens": 3} and not usage.text


@pytest.mark.parametrize(
    "line",
    [
        "data: {not json",
        "data: [1, 2]",
        'data: {"object": "text_completion"}',
        'data: {"choices": [{"text": 5}]}',
        'data: {"error": {"message": "out of memory"}}',
    ],
)
def test_malformed_sse_lines_are_refused_with_the_reason(line: str) -> None:
    with pytest.raises(MalformedStream):
        parse_line(line)


def test_endpoint_is_the_api_base_without_credentials() -> None:
    assert Endpoint.parse("http://gpu:8000/v1/").base == "http://gpu:8000/v1"
    assert Endpoint.parse("http://gpu:8000").base == "http://gpu:8000/v1"
    assert Endpoint.parse("https://gpu/v1/completions").base == "https://gpu/v1"
    shown = Endpoint.parse("https://user:secret@gpu:8443/api/v1?token=abc")
    assert shown.shown == "https://gpu:8443/api/v1" and "secret" not in shown.shown
    for bad in ("", "gpu:8000", "ftp://gpu/v1"):
        with pytest.raises(EngineError):
            Endpoint.parse(bad)


def test_retry_after_and_error_bodies() -> None:
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("nonsense") is None
    assert retry_after_seconds("100000") == 600.0  # capped
    assert error_message(json.dumps({"error": {"message": "no model"}})) == "no model"
    assert error_message(json.dumps({"detail": "Not Found"})) == "Not Found"
    assert error_message("plain text") == "plain text"


def prompt_for(text: str, cursor: str = "|"):
    offset = text.index(cursor)
    source = text.replace(cursor, "")
    document = Document.create("file:///t.py", "python", source, 1)
    line = source[:offset].count("\n")
    character = offset - (source.rfind("\n", 0, offset) + 1)
    return build_prompt(
        document, Position(line, character), budget_tokens=512, count_tokens=len, fim=False
    )


def test_server_stop_strings_never_cut_before_the_stop_rule() -> None:
    single = prompt_for("    value = 1 + |\n")
    assert server_stop_strings(single.stop, []) == ["\n"]
    rule = single.stop
    # Whatever follows the first line break, the rule keeps nothing of it.
    for generated in ("a, b)\nmore", " \nmore", "a\n\n"):
        cut = rule.check(generated)
        assert cut is not None and cut <= generated.index("\n")
    block = prompt_for("def f(x):\n    |")
    assert "\n" not in server_stop_strings(block.stop, [])
    assert server_stop_strings(None, ["<EOT>", "", "<EOT>"]) == ["<EOT>"]


def test_backend_settings_are_checked_one_by_one() -> None:
    settings, problems = settings_from_wire(
        {
            "backend": "openai",
            "backendUrl": "http://127.0.0.1:8080/v1",
            "backendApiKeyEnv": "SDSAT_KEY",
            "backendTimeoutMs": 2000,
        }
    )
    assert problems == [] and settings.backend == "openai"
    _, problems = settings_from_wire(
        {"backend": "vllm", "backendUrl": "gpu:8000", "backendApiKeyEnv": "sk-123 456"}
    )
    assert len(problems) == 3, problems
    assert Settings().backend == "local"


def test_the_remote_backend_starts_without_torch(tmp_path) -> None:
    """With backend openai the server never imports torch (fast start): the server module,
    the backend and a prompt's token count, in a fresh interpreter."""
    code = (
        "import sys\n"
        "import sdsat_lsp.server.server\n"
        "from sdsat_lsp.config import Settings\n"
        "from sdsat_lsp.remote import RemoteBackend\n"
        "b = RemoteBackend(Settings(backend='openai', backendUrl='http://127.0.0.1:9/v1'))\n"
        "assert b.count_tokens('def f(x):') > 0\n"
        "b.close()\n"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))\n"
    ).replace("backendUrl", "backend_url")
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_profile_reports_the_remote_fields(tmp_path) -> None:
    from sdsat_lsp.remote.backend import RemoteStats
    from sdsat_lsp.server.latency import LatencyRecord, format_record

    lines = []
    for index, first_token in enumerate((40.0, 60.0, 80.0)):
        record = LatencyRecord(request_id=index, uri="file:///a.py", version=1)
        stats = RemoteStats(
            prompt_tokens=100,
            new_tokens=8,
            total_ms=first_token + 20,
            finish_reason="eos",
            connect_ms=0.0,
            first_byte_ms=first_token - 10,
            first_token_ms=first_token,
            tokens_per_second=120.0,
            usage_prompt_tokens=101,
            usage_completion_tokens=8,
            reused_prefix_tokens=96,
            engine_finish_reason="stop",
        )
        record.add_engine_stats(stats.to_dict())
        lines.append(format_record(record))
    local = format_record(LatencyRecord(request_id=9, uri="file:///a.py", version=1))
    assert json.loads(local)["first_token_ms"] is None  # the local engine has no such clock
    log = tmp_path / "latency.jsonl"
    log.write_text("\n".join([*lines, local]) + "\n")
    result = subprocess.run(
        [sys.executable, "-m", "sdsat_lsp", "profile", str(log), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    fields = json.loads(result.stdout)["fields"]
    assert fields["first_token_ms"] == {"count": 3, "p50": 60.0, "p90": 76.0, "p99": 79.6}
    assert fields["connect_ms"]["p50"] == 0.0 and fields["first_byte_ms"]["p50"] == 50.0
    assert fields["usage_prompt_tokens"]["p50"] == 101.0
    assert fields["reused_prefix_tokens"]["p50"] == 96.0


def test_sampled_requests_carry_their_sampling_fields() -> None:
    from types import SimpleNamespace

    from sdsat_lsp.remote.backend import sampling_fields

    assert sampling_fields(None) == {}
    sampled = SimpleNamespace(temperature=0.8, top_p=0.9, top_k=20, seed=7)
    assert sampling_fields(sampled, sample_stream=2) == {
        "temperature": 0.8,
        "top_p": 0.9,
        "top_k": 20,
        "seed": 9,
    }
    plain_sampling = SimpleNamespace(temperature=0.5, top_p=1.0, top_k=0, seed=None)
    assert sampling_fields(plain_sampling) == {"temperature": 0.5}
