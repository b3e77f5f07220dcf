"""The reduced soak (CI), a burst with stale-result accounting, and a client that dies."""

from __future__ import annotations

import time
from pathlib import Path

from sdsat_lsp.bench.soak import soak

from .conftest import SOURCE, answers, server_env, start, tiny_args


def test_reduced_soak(tiny_model_dir: Path) -> None:
    report = soak(tiny_args(tiny_model_dir), keystrokes=300, samples=10, env=server_env())
    assert report["error"] == 0, report
    assert report["result"] > 0 and report["request_futures_at_end"] == 0, report
    assert report["exit_code"] == 0
    assert report["rss_growth_last_half_mb"] < 50, report  # generous: 300 keystrokes


def test_burst_answers_every_request_and_never_a_stale_one(tiny_model_dir: Path) -> None:
    client = start(*tiny_args(tiny_model_dir))
    try:
        client.initialize()
        assert client.wait_ready()["state"] == "ready"
        uri = "file:///burst.py"
        client.open(uri, SOURCE)
        ids = [client.complete(uri, 1, 17) for _ in range(200)]
        replies = [client.wait(request_id, 120) for request_id in ids]
        results = [a for a in replies if "result" in a]
        errors = [a["error"]["code"] for a in replies if "error" in a]
        assert set(errors) <= {-32800}, set(errors)  # superseded
        assert replies[-1].get("result", {}).get("items"), replies[-1]  # the latest completes
        # Same version throughout: a result is never stale; all but a few were superseded.
        assert len(results) < 20, len(results)
        answers(client)
    finally:
        client.kill()


def test_client_that_dies_mid_stream(tiny_model_dir: Path) -> None:
    client = start(*tiny_args(tiny_model_dir), "--max-new-tokens", "1024")
    try:
        client.initialize({"prefixReuse": False})
        assert client.wait_ready()["state"] == "ready"
        client.open("file:///dies.py", "\n".join([SOURCE] * 50))
        client.complete("file:///dies.py", 99, 17)
        client.wait_for(lambda: client.messages("sdsat/completionDelta"), 60)
        assert client.process.stdin is not None and client.process.stdout is not None
        started = time.monotonic()
        client.process.stdin.close()
        client.process.stdout.close()
        assert client.process.wait(5) == 1  # no shutdown: not an orderly end
        assert time.monotonic() - started < 1.5
        time.sleep(0.2)
        assert not [line for line in client.stderr if "Traceback" in line], client.tail(40)
    finally:
        client.kill()
