"""The remote backend: completions streamed from an OpenAI-compatible inference engine.

`RemoteBackend` (backend.py) implements `sdsat_lsp.pipeline.CompletionBackend`, so the
pipeline (prompt, stop rules, streamed text, finalize), the worker's supersession and the
latency log work as with the local engine. `http.py` speaks `/v1/completions` with
`stream: true` over one pooled httpx client on its own event-loop thread; `sse.py` parses the
event stream. Imports neither torch nor transformers: with `backend: openai` the server starts
without them.
"""

from sdsat_lsp.remote.backend import RemoteBackend, RemoteInfo
from sdsat_lsp.remote.http import EngineError

__all__ = ["EngineError", "RemoteBackend", "RemoteInfo"]
