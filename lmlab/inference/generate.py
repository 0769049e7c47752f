"""Sampling from a language model: temperature, top-k and nucleus (top-p, Holtzman et al. 2020)
sampling, with a KV cache so each new token costs one position of compute, not the whole prefix.
"""

from collections.abc import Iterator

import torch
import torch.nn.functional as F


def filter_logits(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """logits (B, V) -> logits with the excluded tokens at -inf, scaled by 1/temperature."""
    logits = logits / max(temperature, 1e-8)
    if top_k:
        kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        remove = cumulative - sorted_logits.softmax(-1) > top_p  # keep the smallest set with mass >= top_p
        logits = logits.masked_fill(remove.scatter(1, order, remove), float("-inf"))
    return logits


def next_token(logits: torch.Tensor, temperature: float, top_k, top_p, generator) -> torch.Tensor:
    """Sample (B, 1) ids from logits (B, V); temperature 0 is greedy."""
    if temperature == 0:
        return logits.argmax(-1, keepdim=True)
    probs = F.softmax(filter_logits(logits.float(), temperature, top_k, top_p), dim=-1)
    return torch.multinomial(probs, 1, generator=generator)


@torch.no_grad()
def generate(
    model,
    prompt: list[int],
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    stop_ids: tuple[int, ...] = (),
    use_cache: bool = True,
) -> Iterator[int]:
    """Yield new token ids one at a time (so callers can stream them).

    With the cache, the prompt is run once (prefill) and each step feeds one token. When the
    context window is full, the cache is rebuilt from the last half window, so long generations
    cost an occasional prefill rather than a full recomputation per token.
    """
    model.eval()
    device = next(model.parameters()).device
    block_size = model.config.block_size
    generator = torch.Generator(device=device)
    generator.manual_seed(seed if seed is not None else torch.seed())
    tokens = list(prompt) or [0]
    cache = None
    feed = tokens[-block_size:]
    for _ in range(max_new_tokens):
        if use_cache and hasattr(model, "new_cache"):
            if cache is None or cache.pos + len(feed) > block_size:
                cache = model.new_cache(1, device)
                feed = tokens[-(block_size // 2) :] if len(tokens) >= block_size else tokens
            logits = model(torch.tensor([feed], device=device), cache=cache, last_only=True)
        else:
            logits = model(torch.tensor([tokens[-block_size:]], device=device), last_only=True)
        token = int(next_token(logits[:, -1, :], temperature, top_k, top_p, generator))
        tokens.append(token)
        feed = [token]
        yield token
        if token in stop_ids:
            return


def sample_text(run, prompt: str = "", max_new_tokens: int = 200, temperature: float = 0.8, top_k=None, top_p=None, seed=None, device="auto", num_samples: int = 1) -> Iterator[str]:
    """Stream text pieces sampled from a run folder's model (samples separated by a rule)."""
    from lmlab.runs import load_run
    from lmlab.device import pick_device
    from lmlab.tokenizer import StreamDecoder

    model, tokenizer, _ = load_run(run, pick_device(device), stages=("pretrain", "sft"))
    prompt_ids = tokenizer.encode(prompt) if prompt else [tokenizer.eos_id]
    for i in range(num_samples):
        if i:
            yield "\n---------------\n"
        yield prompt
        decoder = StreamDecoder(tokenizer)
        s = None if seed is None else seed + i
        for token in generate(model, prompt_ids, max_new_tokens, temperature, top_k, top_p, s, stop_ids=(tokenizer.eos_id,)):
            if token == tokenizer.eos_id:
                break
            yield decoder.push(token)
