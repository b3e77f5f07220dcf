"""Compiled decode passes saved to the user cache, so a restart skips the compiler entirely.

Why: with inductor's own caches warm, a restart still re-traces every pass shape with dynamo
(~20–30 s for the default model's one shape on 2 cores) before the cache can answer. torch's
ahead-of-time compile (`torch.compile(...).aot_compile`, experimental in torch 2.13) saves the
traced and compiled pass with its guards; loading it takes seconds.

The saved artifact holds code and guards, never weights: the pass takes every weight tensor as
an input (`flatten_weights`), rebuilt into `LlamaWeights` inside the traced function. torch
serializes artifacts with pickle (as it does its inductor caches); they are written and read
only here, under the user cache, named by a key of everything that shapes the code (torch
version, this package's pass code, the weight layout, dtype, cache capacity, row count), so a
change anywhere compiles anew instead of loading a stale pass. Any failure to load falls back
to compiling (logged); any failure to save only costs the next start its compile.

Every torch upgrade, code change or new setting leaves the old artifacts behind (tens of MB
each), so saving a pass keeps only the `KEEP_SAVED_PASSES` most recently used ones; loading
one marks it used.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from sdsat_lsp.engine.forward import llama
from sdsat_lsp.engine.forward.llama import LlamaWeights, llama_pass

log = logging.getLogger(__name__)

# Enough for a few configurations (one artifact per pass shape: 1, 1+k, tree rows) at once.
KEEP_SAVED_PASSES = 24

# ("T", index) | ("D", type, fields) | ("M", dict) | ("L", list) | ("C", value)
Layout = tuple[Any, ...]


def flatten_weights(weights: LlamaWeights) -> tuple[list[torch.Tensor], Layout]:
    """Every tensor in `weights`, in a fixed order, and the layout that rebuilds the object."""
    tensors: list[torch.Tensor] = []
    index_of: dict[int, int] = {}  # a fused group's tensors are reachable from each member

    def walk(value: Any) -> Layout:
        if isinstance(value, torch.Tensor):
            if id(value) not in index_of:
                index_of[id(value)] = len(tensors)
                tensors.append(value)
            return ("T", index_of[id(value)])
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = {f.name: walk(getattr(value, f.name)) for f in dataclasses.fields(value)}
            return ("D", type(value), fields)
        if isinstance(value, dict):
            return ("M", {key: walk(item) for key, item in value.items()})
        if isinstance(value, list):
            return ("L", [walk(item) for item in value])
        return ("C", value)

    return tensors, walk(weights)


def rebuild_weights(layout: Layout, tensors: list[torch.Tensor]) -> Any:
    kind = layout[0]
    if kind == "T":
        return tensors[layout[1]]
    if kind == "D":
        fields = {name: rebuild_weights(item, tensors) for name, item in layout[2].items()}
        return layout[1](**fields)
    if kind == "M":
        return {key: rebuild_weights(item, tensors) for key, item in layout[1].items()}
    if kind == "L":
        return [rebuild_weights(item, tensors) for item in layout[1]]
    return layout[1]


def describe_layout(layout: Layout, tensors: list[torch.Tensor]) -> str:
    """The layout with each tensor as dtype and shape: what the compiled code depends on."""
    kind = layout[0]
    if kind == "T":
        tensor = tensors[layout[1]]
        return f"{tensor.dtype}{tuple(tensor.shape)}"
    if kind == "D":
        inner = ",".join(f"{k}={describe_layout(v, tensors)}" for k, v in layout[2].items())
        return f"{layout[1].__name__}({inner})"
    if kind == "M":
        items = ",".join(f"{k}:{describe_layout(v, tensors)}" for k, v in layout[1].items())
        return "{" + items + "}"
    if kind == "L":
        return "[" + ",".join(describe_layout(v, tensors) for v in layout[1]) + "]"
    return repr(layout[1])


def artifact_key(layout_text: str, *parts: object) -> str:
    digest = hashlib.sha256()
    for source in (llama.__file__, __file__):
        digest.update(Path(source).read_bytes())
    for part in (torch.__version__, layout_text, *parts):
        digest.update(str(part).encode())
    return digest.hexdigest()[:24]


def saved_guards(entries: Sequence[Any]) -> list[bool]:
    """The guards a saved pass keeps: torch's default for saved compilations, minus the global
    state one, which includes the thread count (cpu_load.py changes it between passes; the
    kernels read it at run time, `cpp.dynamic_threads`) and grad mode (always no_grad here)."""
    from torch._dynamo.guards import CheckFunctionManager

    dropped = {*CheckFunctionManager.UNSUPPORTED_SERIALIZATION_GUARD_TYPES, "GLOBAL_STATE"}
    return [not (entry.is_global or entry.guard_type in dropped) for entry in entries]


def compiled_dir() -> Path:
    from sdsat_lsp.model.paths import cache_dir

    return cache_dir() / "compiled"


def prune_saved_passes(directory: Path, keep: int = KEEP_SAVED_PASSES) -> list[Path]:
    """Delete all but the `keep` most recently used saved passes in `directory` (used = loaded
    or saved: both set the file's modification time); returns what was deleted."""
    saved = sorted(directory.glob("decode-*.pt2"), key=lambda path: path.stat().st_mtime)
    deleted = []
    for path in saved[: max(len(saved) - keep, 0)]:
        try:
            path.unlink()
            deleted.append(path)
        except OSError as error:  # another server may be using the cache too
            log.debug("could not delete %s: %s", path, error)
    return deleted


class PrecompiledDecode:
    """The decode pass of one row count, loaded from the user cache or compiled and saved."""

    def __init__(
        self,
        weights: LlamaWeights,
        cache_tensors: tuple[list[torch.Tensor], list[torch.Tensor]],
        rows: int,
        options: dict[str, Any],
        extra_key: str = "",
    ) -> None:
        self.params, layout = flatten_weights(weights)
        self.rows = rows
        keys = cache_tensors[0]
        key = artifact_key(
            describe_layout(layout, self.params),
            rows,
            sorted(options.items()),
            f"{keys[0].dtype} {keys[0].shape[0]}x{keys[0].shape[2]} x{len(keys)}",  # not C
            torch._inductor.config.cpp.dynamic_threads,
            extra_key,
        )
        self.path = compiled_dir() / f"decode-{rows}-{key}.pt2"

        def decode_pass(
            params: list[torch.Tensor],
            keys: list[torch.Tensor],
            values: list[torch.Tensor],
            input_ids: torch.Tensor,
            positions: torch.Tensor,
            slots: torch.Tensor,
            mask: torch.Tensor,
        ) -> torch.Tensor | None:
            w = rebuild_weights(layout, params)
            return llama_pass(w, keys, values, input_ids, positions, slots, mask, True, False)

        self._source = decode_pass
        self._options = options
        self._fn: Callable[..., Any] | None = None
        self.loaded_from_cache = False

    def prepare(self, example: tuple[torch.Tensor, ...], cache: tuple[Any, Any]) -> None:
        """Load the saved pass, else compile it for `example` inputs and save it."""
        if self.path.is_file():
            try:
                with self.path.open("rb") as file:
                    self._fn = torch.compiler.load_compiled_function(file)
                self.loaded_from_cache = True
                with contextlib.suppress(OSError):
                    os.utime(self.path)  # used now: pruning keeps it
                return
            except Exception as error:  # stale or foreign artifact: compile anew
                log.warning("compiled pass %s not usable (%s): compiling", self.path.name, error)
        ids, positions, slots, mask = example
        # Dynamic sizes: the attended span and the cache capacity (so settings that size the
        # cache, and its growth, reuse the pass). Marked on stand-ins: a saved pass rejects
        # tensors that carry marks at run time.
        mask = mask.clone()
        torch._dynamo.mark_dynamic(mask, 1)
        stand_ins = [[torch.empty_like(t) for t in tensors] for tensors in cache]
        for tensors in stand_ins:
            for tensor in tensors:
                torch._dynamo.mark_dynamic(tensor, 1)
        compiler: Any = torch.compile(
            self._source,
            fullgraph=True,
            options={**self._options, "guard_filter_fn": saved_guards},
        )
        arguments = (self.params, *stand_ins, ids, positions, slots, mask)
        compiled = compiler.aot_compile((arguments, {}))
        self._fn = compiled
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.path.parent, delete=False) as temporary:
                name = temporary.name
            compiled.save_compiled_function(name)
            os.replace(name, self.path)
            for stale in prune_saved_passes(self.path.parent):
                log.info("deleted the least recently used saved pass %s", stale.name)
        except Exception as error:
            log.warning("could not save the compiled pass to %s: %s", self.path, error)

    def __call__(self, keys: Any, values: Any, *inputs: torch.Tensor) -> torch.Tensor | None:
        assert self._fn is not None, "prepare() first"
        return self._fn(self.params, keys, values, *inputs)
