"""Continuous batching: many requests decoded together, joining and leaving the batch as they come and go.

A server that wraps one generation in a lock makes the 8th client wait for the 7 before it. A decoding step
of 8 rows costs far less than 8 steps of 1 row (the weights are read once, the per-step Python and kernel
launches are paid once), so the engine keeps a slot per sequence in one KV cache (SlotCache: each row at its
own position) and runs every active sequence through the model together, one token per step (Yu et al. 2022,
"Orca"; vLLM). A new request is prefilled alone when it arrives (its prompt in one forward pass, written into
a free slot) and decodes with the others from the next step; a finished or cancelled one frees its slot at once.

Two precisions on a CPU (`batch_model`): with AVX512-BF16 or AMX, a matrix product of 2 to 8 rows runs 2-3x
faster with bf16 weights than with fp32, but one row (a matrix-vector product) runs faster in fp32. So the
engine may hold a bf16 copy of the model for steps of two or more rows (prefills included) and keep the fp32
model for a lone sequence's steps; both read and write the same fp32 cache, and attend in fp32 (on a CPU,
fp32 attention over a cache is 3-6x faster than bf16's). A request's tokens then depend
on whether it had company (bf16 rounding), as they do in any batched server; the fp32 path alone is exact.

The engine owns the model on one background thread; other threads submit requests and hear back
through the request's own push/finish methods (the server turns them into asyncio events).
"""

import threading
import traceback
from dataclasses import dataclass, field

import torch

from lmlab.models.gpt import KVCache


class SlotCache(KVCache):
    """Keys and values for `slots` sequences, each at its own length: the cache a GPT takes in place of a KVCache.

    k, v: (n_layer, slots, nkv, block_size, hs), as a KVCache of batch `slots`. Before each forward pass,
    `select(rows, starts)` names which slots the batch rows are and where each row's new tokens start; the model
    then asks positions(), writes through update() and attends with attn_mask(), as it does with a KVCache
    (whose single `pos` this cache does not use).
    """

    def __init__(self, cfg, slots: int, device, dtype=torch.float32):
        super().__init__(cfg, slots, device, dtype)
        self.device = device

    def select(self, rows: list[int], starts: list[int]):
        """The next forward pass feeds batch row b to slot rows[b], its tokens starting at position starts[b]."""
        self.rows = torch.tensor(rows, device=self.device)
        self.starts = torch.tensor(starts, device=self.device)
        self.max_start = max(starts)
        # consecutive slots (the usual case: the lowest free slot is taken first) are read as a view, not gathered
        first = rows[0]
        self.span = slice(first, first + len(rows)) if rows == list(range(first, first + len(rows))) else None

    def positions(self, T: int, device) -> torch.Tensor:
        if self.max_start + T > self.block_size:
            raise ValueError(f"sequence of {self.max_start + T} tokens exceeds block_size {self.block_size}")
        self.pos = self.starts[:, None] + torch.arange(T, device=device)  # (B, T)
        S = self.max_start + T  # keys the longest row attends over
        self.mask = (torch.arange(S, device=device) <= self.pos[..., None])[:, None]  # (B, 1, T, S): keys <= position
        return self.pos

    def attn_mask(self) -> torch.Tensor:
        return self.mask

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        """Write k, v (B, nkv, T, hs) at each row's positions; return each row's keys and values (B, nkv, S, hs)."""
        S = self.mask.size(-1)
        index = (self.rows[:, None], slice(None), self.pos)  # (B, T) slot and position pairs
        self.k[layer][index] = k.transpose(1, 2).to(self.k.dtype)  # (B, T, nkv, hs) into (slots, nkv, block, hs)
        self.v[layer][index] = v.transpose(1, 2).to(self.v.dtype)
        rows = self.span if self.span is not None else self.rows
        return self.k[layer, rows, :, :S], self.v[layer, rows, :, :S]

    def advance(self, T: int):
        pass  # the engine keeps each slot's length


@dataclass
class SamplingParams:
    temperature: float = 1.0  # 0 is greedy
    top_p: float = 1.0
    max_tokens: int = 16
    stop_ids: tuple[int, ...] = ()
    seed: int | None = None


@dataclass
class Request:
    """One sequence to continue.

    The engine appends every sampled token to `generated` and calls push(token) for each but a stop id (push
    returns False to stop, e.g. at a stop string), then finish(reason) once: "stop" (a stop id, or push said
    so), "length" (max_tokens, or the context is full), "cancelled" (after cancel()) or "error".
    """

    prompt: list[int]
    params: SamplingParams
    generated: list[int] = field(default_factory=list)
    cancelled: bool = False

    def push(self, token: int) -> bool:
        return True

    def finish(self, reason: str):
        pass

    def cancel(self):
        self.cancelled = True  # read by the engine thread at its next step


class Engine:
    """Decodes submitted requests together, up to max_batch at once, on a background thread."""

    def __init__(self, model, max_batch: int = 8, batch_model=None):
        self.model, self.max_batch = model.eval(), max_batch
        self.batch_model = batch_model.eval() if batch_model is not None else self.model  # for steps of >= 2 rows
        self.device = next(model.parameters()).device
        self.block_size = model.config.block_size
        self.cache = SlotCache(model.config, max_batch, self.device, dtype=next(model.parameters()).dtype)
        self.waiting: list[Request] = []
        self.active: dict[int, Request] = {}  # slot -> request
        self.length: dict[int, int] = {}  # slot -> tokens in its cache
        self.last: dict[int, int] = {}  # slot -> the token to feed next
        self.generators: dict[int, torch.Generator] = {}
        self.wake = threading.Condition()
        self.running = False
        self.thread: threading.Thread | None = None
        self.steps = 0  # decode steps run, and rows decoded in them (their mean is the batch size reached)
        self.rows_decoded = 0

    # ---- other threads ------------------------------------------------------------------------
    def submit(self, request: Request):
        if not 0 < len(request.prompt) < self.block_size:
            raise ValueError(f"a prompt needs 1 to {self.block_size - 1} tokens, got {len(request.prompt)}")
        with self.wake:
            self.waiting.append(request)
            self.wake.notify()

    def start(self):
        self.running = True
        self.thread = threading.Thread(target=self._loop, name="lmlab-engine", daemon=True)
        self.thread.start()

    def stop(self):
        with self.wake:
            self.running = False
            self.wake.notify()
        if self.thread is not None:
            self.thread.join()

    @property
    def busy(self) -> int:
        return len(self.active) + len(self.waiting)

    # ---- the engine thread --------------------------------------------------------------------
    def _loop(self):
        while True:
            with self.wake:
                while self.running and not self.waiting and not self.active:
                    self.wake.wait()
                if not self.running:
                    break
                free = [s for s in range(self.max_batch) if s not in self.active]
                joining = [(s, self.waiting.pop(0)) for s in free[: len(self.waiting)]]
            try:
                with torch.no_grad():
                    for slot, request in joining:
                        self._prefill(slot, request)
                    if self.active:
                        self._decode()
            except Exception:  # a bug must not leave clients waiting or stop the server: end the batch, say why
                traceback.print_exc()
                for slot in list(self.active):
                    self._release(slot, "error")
        for request in [*self.active.values(), *self.waiting]:
            request.finish("cancelled")

    def _prefill(self, slot: int, request: Request):
        if request.cancelled:
            request.finish("cancelled")
            return
        generator = torch.Generator(device=self.device)
        if request.params.seed is None:
            generator.seed()
        else:
            generator.manual_seed(request.params.seed)
        self.active[slot], self.generators[slot] = request, generator
        self.cache.select([slot], [0])
        idx = torch.tensor([request.prompt], device=self.device)
        model = self.model if len(request.prompt) == 1 else self.batch_model
        logits = model(idx, cache=self.cache, last_only=True)[:, -1]  # (1, V)
        self.length[slot] = len(request.prompt)
        self._emit(slot, self._sample(logits.float(), [slot])[0])

    def _decode(self):
        slots = sorted(self.active)
        self.cache.select(slots, [self.length[s] for s in slots])
        idx = torch.tensor([[self.last[s]] for s in slots], device=self.device)  # (B, 1)
        model = self.model if len(slots) == 1 else self.batch_model
        logits = model(idx, cache=self.cache, last_only=True)[:, -1]  # (B, V)
        self.steps += 1
        self.rows_decoded += len(slots)
        for s in slots:
            self.length[s] += 1
        for s, token in zip(slots, self._sample(logits.float(), slots)):
            self._emit(s, token)

    def _sample(self, logits: torch.Tensor, slots: list[int]) -> list[int]:
        """One token per row of logits (B, V), each row with its request's settings and random generator.

        Inverse-CDF sampling: token = the first v with cdf_v > u, u ~ U(0, 1) drawn from the row's own generator
        (one number per row, where torch.multinomial draws V exponentials), all rows at once.
        """
        params = [self.active[s].params for s in slots]
        greedy = logits.argmax(-1)
        sampled = [b for b, p in enumerate(params) if p.temperature > 0]
        if not sampled:
            return greedy.tolist()
        rows = logits[sampled]
        temperature = torch.tensor([params[b].temperature for b in sampled], device=rows.device)[:, None]
        probs = (rows / temperature).softmax(-1)
        top_p = torch.tensor([params[b].top_p for b in sampled], device=rows.device)[:, None]
        if bool((top_p < 1).any()):  # nucleus: keep the smallest set of most likely tokens with mass >= top_p
            sorted_probs, order = probs.sort(-1, descending=True)
            drop = sorted_probs.cumsum(-1) - sorted_probs >= top_p
            probs = probs.masked_fill(drop.scatter(1, order, drop), 0.0)
        cdf = probs.cumsum(-1)  # (b, V), unnormalised after top-p
        u = torch.cat([torch.rand(1, generator=self.generators[slots[b]], device=rows.device) for b in sampled])
        picked = torch.searchsorted(cdf, (u * cdf[:, -1])[:, None], right=True).clamp_(max=cdf.size(-1) - 1)  # (b, 1)
        tokens = greedy.index_put((torch.tensor(sampled, device=rows.device),), picked[:, 0])
        return tokens.tolist()

    def _emit(self, slot: int, token: int):
        """Hand a sampled token to its request; free the slot when the request is done."""
        request = self.active[slot]
        if request.cancelled:
            return self._release(slot, "cancelled")
        request.generated.append(token)
        self.last[slot] = token
        if token in request.params.stop_ids or not request.push(token):
            self._release(slot, "stop")
        elif len(request.generated) >= request.params.max_tokens or self.length[slot] + 1 > self.block_size:
            self._release(slot, "length")

    def _release(self, slot: int, reason: str):
        request = self.active.pop(slot)
        for table in (self.length, self.last, self.generators):
            table.pop(slot, None)
        request.finish(reason)
