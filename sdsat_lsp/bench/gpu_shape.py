"""GPU check on a 7B-shaped Llama with random weights: pass cost, equivalence, memory.

No checkpoint can reach the lent GPU machines, so this builds CodeLlama-7B's shape (4096 wide,
32 layers, vocab 32016) with random weights on the GPU and measures what does not depend on
training: the cost of a forward pass with n new tokens relative to one (the fact SDSAT's
speed-up rests on), whether `lookup`/`sdsat` rounds reproduce `ar` token for token per dtype,
decoding speed of our `ar` against transformers' `generate`, and peak memory.
Run: `sdsat-lsp bench gpu-shape [--layers 32] [--out FILE.json]`.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from sdsat_lsp.engine.decoding import Decoder
from sdsat_lsp.engine.forward.passes import ForwardPasses, TransformersPasses
from sdsat_lsp.engine.forward.static_passes import StaticOptions, StaticPasses

SAT_ID = 32011


def build(dtype: torch.dtype, layers: int) -> Any:
    config = LlamaConfig(
        vocab_size=32016,
        hidden_size=4096,
        intermediate_size=11008,
        num_hidden_layers=layers,
        num_attention_heads=32,
        num_key_value_heads=32,
        max_position_embeddings=4096,
    )
    torch.manual_seed(0)
    with torch.device("cuda"):
        model: Any = LlamaForCausalLM(config)
    return model.to(dtype=dtype).eval()


def timed(fn: Any, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


PASS_ROWS = (1, 2, 4, 6, 8, 12, 16, 36)  # 6 = 1 + k and 36 = an sdsat-tree pass at k=5


def forward_paths(model: Any, dtype: torch.dtype) -> dict[str, Callable[[], ForwardPasses]]:
    """transformers' eager forward, and the static path with every pass a CUDA graph."""
    cuda = torch.device("cuda")
    options = StaticOptions(compile=True, cuda_graphs=True, capacity=1024, row_shapes=PASS_ROWS)
    return {
        "transformers": lambda: TransformersPasses(model, cuda),
        "static": lambda: StaticPasses(model, cuda, dtype, options),
    }


def pass_costs(passes: ForwardPasses, context: int = 512) -> dict[int, float]:
    passes.cache.reset()
    decoder = Decoder(passes, cancelled=lambda: False)
    decoder.prefill(list(range(100, 100 + context)))
    costs = {}
    for n in PASS_ROWS:

        def one_pass(n: int = n) -> None:
            decoder.forward(list(range(200, 200 + n)), keep=n)
            passes.cache.crop_to(context)

        timed(one_pass, 3)
        costs[n] = round(timed(one_pass, 15), 3)
    return costs


def decode(
    passes: ForwardPasses, prompt: list[int], strategy: str, k: int, tokens: int
) -> tuple[list[int], int]:
    passes.cache.reset()
    decoder = Decoder(passes, cancelled=lambda: False)
    decoder.prefill(prompt[:-1])
    committed = list(prompt)
    drafts: list[int] = []
    while len(committed) - len(prompt) < tokens:
        pending = committed[-1]
        if strategy == "sdsat-tree":
            round_, drafts = decoder.sdsat_tree_round(pending, drafts, SAT_ID, k)
        elif strategy == "sdsat":
            round_ = decoder.sdsat_round(pending, SAT_ID, k)
        elif strategy == "lookup":
            round_ = decoder.lookup_round(pending, committed, k)
        else:
            round_ = decoder.ar_round(pending)
        committed.extend(round_.committed)
    return committed[len(prompt) : len(prompt) + tokens], decoder.forward_passes


def measure(
    layers: int,
    prompts_count: int,
    new_tokens: int,
    progress: Callable[[str, dict[str, Any]], None],
) -> dict[str, Any]:
    """Per dtype: pass costs, each strategy against `ar`, `generate()` speed, peak memory.

    `progress(dtype, entry)` is called as each dtype finishes.
    """
    rng = random.Random(0)
    prompts = []
    for _ in range(prompts_count):
        body = [rng.randrange(3, 32000) for _ in range(120)]
        prompts.append(body + body[:60])  # a repeat so that lookup has drafts
    report: dict[str, Any] = {"device": torch.cuda.get_device_name(), "torch": torch.__version__}
    for dtype in (torch.bfloat16, torch.float16, torch.float32):
        torch.cuda.reset_peak_memory_stats()
        model = build(dtype, layers)
        entry: dict[str, Any] = {}
        for path, make_passes in forward_paths(model, dtype).items():
            started = time.perf_counter()
            passes = make_passes()
            result: dict[str, Any] = {"pass_ms": pass_costs(passes)}
            result["prepare_s"] = round(time.perf_counter() - started, 1)  # compile + capture
            base = result["pass_ms"][1]
            result["pass_cost_ratio"] = {
                n: round(ms / base, 3) for n, ms in result["pass_ms"].items()
            }
            for strategy, k in (("ar", 0), ("lookup", 4), ("sdsat", 5), ("sdsat-tree", 5)):
                matches, seconds, used_passes = 0, 0.0, 0
                for prompt in prompts:
                    reference, _ = decode(passes, prompt, "ar", 0, new_tokens)
                    torch.cuda.synchronize()
                    start = time.perf_counter()
                    output, used = decode(passes, prompt, strategy, k, new_tokens)
                    torch.cuda.synchronize()
                    seconds += time.perf_counter() - start
                    used_passes += used
                    matches += output == reference
                result[f"{strategy}_k{k}"] = {
                    "identical_to_ar": f"{matches}/{len(prompts)}",
                    "tokens_per_s": round(new_tokens * len(prompts) / seconds, 1),
                    "tokens_per_pass": round(new_tokens * len(prompts) / used_passes, 3),
                }
            entry[path] = result
            del passes
        prompt_t = torch.tensor([prompts[0]], device="cuda")

        def hf_generate(
            model: Any = model, prompt_t: torch.Tensor = prompt_t, new_tokens: int = new_tokens
        ) -> None:
            model.generate(
                prompt_t, do_sample=False, max_new_tokens=new_tokens, min_new_tokens=new_tokens
            )

        hf_generate()
        entry["hf_generate_tokens_per_s"] = round(new_tokens / (timed(hf_generate, 3) / 1000), 1)
        entry["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        report[str(dtype).removeprefix("torch.")] = entry
        progress(str(dtype), entry)
        del model
        torch.cuda.empty_cache()
    return report
