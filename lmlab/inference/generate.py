"""Sampling from a language model: temperature, top-k and nucleus (top-p, Holtzman et al. 2020)
sampling, with a KV cache so each new token costs one position of compute, not the whole prefix.
"""

import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from lmlab.errors import LmlabError


def check_sampling(temperature: float, top_k: int | None = None, top_p: float | None = None):
    """Refuse settings a user might type that would sample nonsense (nan probabilities) or crash deep inside."""
    if not math.isfinite(temperature) or temperature < 0:
        raise LmlabError(f"temperature must be a finite number >= 0 (0 is greedy), got {temperature}")
    if top_k is not None and top_k < 0:
        raise LmlabError(f"top_k must be >= 0 (0 keeps every token), got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:  # also refuses nan
        raise LmlabError(f"top_p must be in (0, 1], got {top_p}")


def filter_logits(
    logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None
) -> torch.Tensor:
    """logits (B, V) -> logits with the excluded tokens at -inf, scaled by 1/temperature."""
    logits = logits / max(temperature, 1e-8)
    if top_k:
        kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True)
        probs = sorted_logits.softmax(-1)
        # Keep the smallest set with mass >= top_p: drop a token once the mass before it reaches top_p.
        remove = probs.cumsum(-1) - probs >= top_p
        remove[:, 0] = False  # the most likely token always stays
        logits = logits.masked_fill(remove.scatter(1, order, remove), float("-inf"))
    return logits


def next_token(logits: torch.Tensor, temperature: float, top_k, top_p, generator) -> torch.Tensor:
    """Sample (B, 1) ids from logits (B, V); temperature 0 is greedy."""
    if temperature == 0:
        return logits.argmax(-1, keepdim=True)
    probs = F.softmax(filter_logits(logits.float(), temperature, top_k, top_p), dim=-1)
    return torch.multinomial(probs, 1, generator=generator)


class CachedContext:
    """The KV cache of one sequence (batch 1) and the tokens it covers.

    `tokens` are exactly the tokens whose keys and values the cache holds, so next_logits()
    equals model(tokens)[:, -1] recomputed from scratch. Window rule: when the new tokens would
    overflow the context window (block_size), the cache is rebuilt from the last half window, so a
    long generation costs an occasional prefill of block_size / 2 tokens rather than a full
    recomputation per token.
    """

    def __init__(self, model, device):
        self.model, self.device = model, device
        self.block_size = model.config.block_size
        self.cache = model.new_cache(1, device)
        self.tokens: list[int] = []

    def next_logits(self, new: list[int]) -> torch.Tensor:
        """Append `new` to the context and return the logits (1, V) of the token that follows."""
        if len(self.tokens) + len(new) > self.block_size:
            new = (self.tokens + new)[-max(self.block_size // 2, 1) :]
            self.cache, self.tokens = self.model.new_cache(1, self.device), []
        logits = self.model(torch.tensor([new], device=self.device), cache=self.cache, last_only=True)
        self.tokens += new
        return logits[:, -1]


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

    With the cache (CachedContext), the prompt is run once (prefill) and each step feeds one token.
    Without it (or for a model without one, as the recurrent models), each step recomputes the
    last block_size tokens. The global RNG is never touched: sampling has its own generator.
    """
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()  # a fresh non-deterministic seed for this generator only
    else:
        generator.manual_seed(seed)
    context = CachedContext(model, device) if use_cache and hasattr(model, "new_cache") else None
    tokens = list(prompt) or [0]
    new = tokens  # the first step feeds the whole prompt (prefill)
    for _ in range(max_new_tokens):
        if context is not None:
            logits = context.next_logits(new)
        else:
            window = torch.tensor([tokens[-model.config.block_size :]], device=device)
            logits = model(window, last_only=True)[:, -1]
        token = int(next_token(logits, temperature, top_k, top_p, generator))
        tokens.append(token)
        new = [token]
        yield token
        if token in stop_ids:
            return


@torch.no_grad()
def generate_batch(
    model,
    prompts: list[list[int]],
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int = 0,
    stop_ids: tuple[int, ...] = (),
    batch_size: int = 64,
    progress: bool = False,
    include_stop: bool = False,
    suppress_ids: tuple[int, ...] = (),
) -> list[list[int]]:
    """One sampled continuation per prompt (its new ids up to the first stop id, which is kept only with
    include_stop), many at once. suppress_ids are never drawn: their logits are set to -inf, so the draw comes from
    the model's distribution renormalised over the other tokens (fixed-length sampling suppresses the stop ids).

    Prompts of equal token length are decoded together, up to batch_size rows, each batch with
    one KV cache: a prefill of the prompts, then one position per step for every row. Equal
    lengths need no padding, so every row sees exactly its own prompt at its own positions, as it
    would alone. A batch ends when every row has produced a stop id or max_new_tokens (or the
    context is full). The draws come from one generator seeded with `seed`, batch after batch in
    a fixed order, so the same (prompts, seed) give the same samples.
    """
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    block = model.config.block_size
    by_length: dict[int, list[int]] = {}
    for i, p in enumerate(prompts):
        if not 0 < len(p) < block:
            raise ValueError(f"prompt {i} has {len(p)} tokens; a prompt needs 1 to {block - 1} for a continuation")
        by_length.setdefault(len(p), []).append(i)
    stops = torch.tensor(list(stop_ids) or [-1], device=device)
    results: list[list[int]] = [[] for _ in prompts]
    bar = tqdm(total=len(prompts), desc="sample", unit="seq", disable=not progress, dynamic_ncols=True)
    for T, rows in sorted(by_length.items()):
        steps = min(max_new_tokens, block - T)
        for start in range(0, len(rows), batch_size):
            part = rows[start : start + batch_size]
            idx = torch.tensor([prompts[i] for i in part], device=device)  # (B, T)
            cache = model.new_cache(len(part), device) if hasattr(model, "new_cache") else None
            new = torch.zeros(len(part), 0, dtype=torch.long, device=device)
            done = torch.zeros(len(part), dtype=torch.bool, device=device)
            for _ in range(steps):
                if cache is not None:
                    logits = model(idx if new.size(1) == 0 else new[:, -1:], cache=cache, last_only=True)[:, -1]
                else:
                    logits = model(torch.cat([idx, new], 1)[:, -block:], last_only=True)[:, -1]
                if suppress_ids:
                    logits = logits.float().index_fill(-1, torch.tensor(suppress_ids, device=device), float("-inf"))
                token = next_token(logits, temperature, top_k, top_p, generator)  # (B, 1)
                new = torch.cat([new, token], 1)
                done |= torch.isin(token[:, 0], stops)
                if bool(done.all()):
                    break
            for row, ids in zip(part, new.tolist()):
                results[row] = next((ids[: k + include_stop] for k, t in enumerate(ids) if t in stop_ids), ids)
            bar.update(len(part))
    bar.close()
    return results


@torch.no_grad()
def sample_rows(
    model,
    idx: torch.Tensor,
    max_new_tokens: int,
    seeds: list[int],
    temperature: float = 1.0,
    stop_ids: tuple[int, ...] = (),
) -> torch.Tensor:
    """Continuations (B, S) of B prompts of equal length idx (B, T), each row drawing its randomness from its own
    generator seeded with seeds[b], so a row's sample does not depend on which rows share its batch (the rollouts
    of PPO and GRPO: a run on 2 processes samples what 1 process samples, and a resumed run what it would have).

    Sampling by the Gumbel-max trick: argmax_v (logits_v / temperature + g_v) with g_v ~ Gumbel(0, 1) i.i.d. is a
    sample of softmax(logits / temperature) (Gumbel 1954; Maddison et al. 2014); the noise of row b for every step
    is drawn up front from generator b. Rows stop at their first stop id; after it (and for every row once all
    have stopped) the result holds stop_ids[0]. S <= max_new_tokens. Temperature 0 is greedy.
    """
    device = idx.device
    B, T = idx.shape
    steps = min(max_new_tokens, model.config.block_size - T)
    V = model.config.vocab_size
    noise = None
    if temperature > 0:
        uniform = torch.stack([torch.rand(steps, V, generator=torch.Generator().manual_seed(s)) for s in seeds])
        noise = -torch.log(-torch.log(uniform)).to(device)  # (B, S, V) Gumbel(0, 1); u = 0 gives -inf, never drawn
    stops = torch.tensor(list(stop_ids) or [-1], device=device)
    cache = model.new_cache(B, device)
    new = torch.zeros(B, 0, dtype=torch.long, device=device)
    done = torch.zeros(B, dtype=torch.bool, device=device)
    for t in range(steps):
        logits = model(idx if t == 0 else new[:, -1:], cache=cache, last_only=True)[:, -1].float()  # (B, V)
        if noise is None:
            token = logits.argmax(-1)
        else:
            token = (logits / temperature + noise[:, t]).argmax(-1)
        token = torch.where(done, stops[0], token)  # a finished row repeats its stop id
        new = torch.cat([new, token[:, None]], 1)
        done |= torch.isin(token, stops)
        if bool(done.all()):
            break
    return new


def stop_ids(tokenizer) -> tuple[int, int]:
    """The ids a response ends at: the chat template's <|end|> and <|eos|>."""
    return tokenizer.special_id("<|end|>"), tokenizer.eos_id


def sample_responses(
    model,
    tokenizer,
    prompts: list,
    max_new_tokens: int,
    temperature: float = 1.0,
    seed: int = 0,
    samples: int = 1,
    include_stop: bool = False,
    progress: bool = False,
    fixed_length: bool = False,
) -> tuple[list[list[int]], list[list[int]], list[str]]:
    """`samples` responses to each prompt (plain text, or messages in the chat template up to <|assistant|>),
    with generate_batch under the device's autocast, each stopped at <|end|> or <|eos|>; with fixed_length, the stop
    ids are never drawn and every response is max_new_tokens long (as the DPO paper's IMDb samples are).

    Returns (prompt ids, response ids, response texts), one row per sample, the samples of a prompt together.
    """
    from lmlab.data.preferences import encode_prompt
    from lmlab.device import autocast, resolve_dtype

    device = next(model.parameters()).device
    prompt_ids = [ids for p in prompts for ids in [encode_prompt(tokenizer, p)] * samples]
    stop = stop_ids(tokenizer)
    with autocast(device, resolve_dtype("auto", device)):
        responses = generate_batch(
            model, prompt_ids, max_new_tokens, temperature, seed=seed, stop_ids=stop, progress=progress,
            include_stop=include_stop, suppress_ids=stop if fixed_length else (),
        )  # fmt: skip
    return prompt_ids, responses, [tokenizer.decode(r, skip_special_tokens=True) for r in responses]


def compile_for_decoding(model):
    """torch.compile the model in place for KV-cache decoding, with dynamic shapes: each step reads a cache one
    position longer and a prefill has its own length, so static shapes would recompile at every step. The first
    call compiles (tens of seconds on a CPU). Whether it then pays depends on the shape: on 2 CPU cores the
    cpu-small model (block 128) decodes 1.95x faster, the 6/6/384 GPT-2 shape (block 256) 0.31x as fast
    (bench/generation.py --compile), so it is opt-in (`lmlab sample --compile`)."""
    model.compile(dynamic=True)
    return model


def sample_text(
    run,
    prompt: str = "",
    max_new_tokens: int = 200,
    temperature: float = 0.8,
    top_k=None,
    top_p=None,
    seed=None,
    device="auto",
    num_samples: int = 1,
    compile: bool = False,
) -> Iterator[str]:
    """Stream text pieces sampled from a run folder's model (samples separated by a rule); compile: torch.compile
    the decoding (compile_for_decoding)."""
    from lmlab.device import pick_device
    from lmlab.runs import load_run
    from lmlab.tokenizer import StreamDecoder

    check_sampling(temperature, top_k, top_p)
    model, tokenizer, _ = load_run(run, pick_device(device))
    if compile:
        compile_for_decoding(model)
    prompt_ids = tokenizer.encode(prompt) if prompt else [tokenizer.eos_id]
    eos = tokenizer.eos_id
    for i in range(num_samples):
        if i:
            yield "\n---------------\n"
        yield prompt
        decoder = StreamDecoder(tokenizer)
        s = None if seed is None else seed + i
        for token in generate(model, prompt_ids, max_new_tokens, temperature, top_k, top_p, s, stop_ids=(eos,)):
            if token == eos:
                break
            yield decoder.push(token)
