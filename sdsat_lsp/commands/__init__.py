"""The `sdsat-lsp` sub-commands: one module each, the only place that parses arguments.

Every module has `add_arguments(parser)` and `run(args) -> int`; `sdsat_lsp.cli` imports only
the chosen one, so `sdsat-lsp --help` and the context-only commands never import torch. A
command turns flags into library calls and prints what they return; the library packages
(config, model, engine, context, server, training, bench) never parse arguments or print.
"""
