"""The language server package: LSP wiring over the context and engine packages.

`server.py` registers the handlers, `completion.py` is the worker-side job, `model_host.py` the
model's lifecycle, `protocol.py` the pygls adjustments, `latency.py` the latency log.
`commands.py` (`sdsat-lsp serve`), `demo.py`, `profile.py` and `bench.py` are the commands.
Nothing here imports torch at module level except through the engine package.
"""
