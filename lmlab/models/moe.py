"""A mixture-of-experts MLP for the GPT block (`--moe-experts E --moe-top-k K`).

Each token's router logits (a bias-free linear map of the residual stream, in fp32) go through a softmax over the E
experts; the token goes to its K most probable experts, weighted by their probabilities renormalised over the K
(Mixtral, Jiang et al. 2024), and the experts' outputs are summed. `--moe-shared S` adds S experts' width that every
token goes through, unweighted (DeepSeekMoE, Dai et al. 2024; MiniMind), as one MLP of S times the expert width.

Dispatch is dropless by default: the (token, expert) assignments are sorted by expert, gathered once, each expert
computes its contiguous rows in one matmul (grouped computation, as MegaBlocks), and one weighted scatter adds the
results back. With `--moe-capacity c > 0` an expert takes at most ceil(c * N * K / E) of the N tokens' assignments
(Switch Transformer, Fedus et al. 2022), earliest tokens first; the rest are dropped (their share of the output is 0
and the residual carries the token on), and the share dropped is logged.

Two auxiliary losses keep the router healthy, added to the training loss by the trainer (`aux_losses`):
- load balancing (Switch, GShard): E * sum_e f_e P_e, with f_e the share of the N * K assignments that went to expert
  e and P_e the mean router probability of e; 1 when the load is uniform, E when one expert takes everything;
  weight `--moe-aux-weight` (0.01);
- router z-loss (ST-MoE, Zoph et al. 2022): the mean over tokens of logsumexp(router logits)^2, which keeps the logits
  small; weight `--moe-z-weight` (0.001).
Every forward leaves its expert load (the share of assignments per expert) and dropped share in `stats` for metrics.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from lmlab.data.batching import bucketed
from lmlab.errors import LmlabError


def check_moe(cfg) -> None:
    """One line for an MoE setting that cannot be built."""
    if cfg.moe_experts < 0 or cfg.moe_experts == 1:
        raise LmlabError(f"--moe-experts {cfg.moe_experts}: expected 0 (a dense MLP) or at least 2 experts")
    if not cfg.moe_experts:
        if cfg.moe_shared:
            raise LmlabError("--moe-shared needs --moe-experts (shared experts sit beside routed ones)")
        return
    if cfg.arch != "gpt":
        raise LmlabError(f"--moe-experts: a mixture of experts replaces the GPT's MLP; --arch {cfg.arch} has none")
    if not 1 <= cfg.moe_top_k <= cfg.moe_experts:
        raise LmlabError(f"--moe-top-k {cfg.moe_top_k}: expected 1 to --moe-experts ({cfg.moe_experts})")
    if cfg.moe_shared < 0 or cfg.moe_capacity < 0 or cfg.moe_aux_weight < 0 or cfg.moe_z_weight < 0:
        raise LmlabError("--moe-shared, --moe-capacity, --moe-aux-weight and --moe-z-weight must not be negative")


class MoE(nn.Module):
    def __init__(self, cfg, make_mlp):
        """make_mlp(hidden) -> the block's MLP at that hidden width (0: the dense MLP's), one per expert."""
        super().__init__()
        self.n_experts, self.top_k, self.capacity = cfg.moe_experts, cfg.moe_top_k, cfg.moe_capacity
        self.aux_weight, self.z_weight = cfg.moe_aux_weight, cfg.moe_z_weight
        self.router = nn.Linear(cfg.n_embd, self.n_experts, bias=False)
        self.experts = nn.ModuleList(make_mlp(cfg.moe_hidden) for _ in range(self.n_experts))
        hidden = self.experts[0].hidden
        self.shared = make_mlp(hidden * cfg.moe_shared) if cfg.moe_shared else None
        self.aux: list[torch.Tensor] = []  # the weighted auxiliary losses of the forwards since the trainer took them
        self.stats: dict[str, torch.Tensor] = {}

    def route(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (N, C) -> the router logits (N, E) in fp32, the top-k experts (N, K) and their weights (N, K)."""
        logits = self.router(x).float()
        probs = logits.softmax(-1)
        top_p, top_i = probs.topk(self.top_k, dim=-1)
        return logits, top_i, top_p / top_p.sum(-1, keepdim=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        flat = x.reshape(-1, shape[-1])
        N, E, K = flat.shape[0], self.n_experts, self.top_k
        logits, top_i, weights = self.route(flat)
        expert = top_i.flatten()  # assignment a = token * K + slot
        order = torch.argsort(expert, stable=True)  # by expert, earliest token first within each
        counts = torch.bincount(expert, minlength=E)
        if self.capacity > 0:  # keep each expert's first ceil(c N K / E) assignments
            limit = math.ceil(self.capacity * N * K / E)
            starts = torch.cumsum(counts, 0) - counts
            order = order[torch.arange(order.numel(), device=order.device) - starts[expert[order]] < limit]
            kept_counts = counts.clamp(max=limit)
        else:
            kept_counts = counts
        token = order // K
        # One gather of every kept assignment's input, one matmul per expert on its contiguous rows (an expert without
        # tokens runs on none, so every weight gets a gradient, as DDP expects), one weighted scatter back.
        chunks = flat[token].split(kept_counts.tolist())
        y = torch.cat([padded(expert_mlp, chunk, N * K) for expert_mlp, chunk in zip(self.experts, chunks)])
        y = y * weights.flatten()[order, None].to(y.dtype)
        out = torch.zeros_like(flat).index_add_(0, token, y.to(flat.dtype))
        kept = order.numel()
        if self.shared is not None:
            out = out + self.shared(flat)
        load = counts.float() / (N * K)
        self.stats = {"load": load.detach(), "dropped": torch.tensor(1.0 - kept / max(N * K, 1), device=flat.device)}
        if torch.is_grad_enabled():
            balance = E * (load * logits.softmax(-1).mean(0)).sum()
            z = torch.logsumexp(logits, -1).square().mean()
            self.stats.update(aux_loss=balance.detach(), z_loss=z.detach())
            self.aux.append(self.aux_weight * balance + self.z_weight * z)
        return out.view(shape)


def padded(mlp: nn.Module, rows: torch.Tensor, cap: int) -> torch.Tensor:
    """mlp(rows), on the CPU with the rows zero-padded to a bucketed() count (2^k or 1.5 x 2^k) and cut back: under bf16
    autocast oneDNN builds and keeps a kernel for every new input shape, and an expert's token count changes every step
    (a bf16 step of `lmlab run`'s model with 8 experts: 0.72 s, padded 0.26 s). Padding rows change no other row's
    output."""
    n = rows.size(0)
    if rows.device.type != "cpu" or n == 0:
        return mlp(rows)
    size = bucketed(n, max(cap, n))
    return mlp(F.pad(rows, (0, 0, 0, size - n)))[:n] if size > n else mlp(rows)


def moe_layers(model: nn.Module) -> list[MoE]:
    return [m for m in model.modules() if isinstance(m, MoE)]


def aux_losses(layers: list[MoE]) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
    """The weighted auxiliary losses of every MoE layer's forwards since the last call (summed over layers, the mean
    over forwards), to add to the training loss, and the routing metrics of the last forward (averaged over layers):
    moe/aux_loss and moe/z_loss (unweighted), moe/load_max (the busiest expert's share times E: 1 is balanced) and
    moe/dropped. layers: moe_layers(model); (None, {}) for a dense model."""
    if not layers:
        return None, {}
    total = None
    for layer in layers:
        if layer.aux:
            term = torch.stack(layer.aux).mean()
            total = term if total is None else total + term
        layer.aux.clear()
    metrics = {
        "moe/load_max": torch.stack([m.stats["load"].max() * m.n_experts for m in layers]).mean(),
        "moe/dropped": torch.stack([m.stats["dropped"] for m in layers]).mean(),
    }
    for key in ("aux_loss", "z_loss"):
        if all(key in m.stats for m in layers):
            metrics[f"moe/{key}"] = torch.stack([m.stats[key] for m in layers]).mean()
    return total, metrics


def active_params(model: nn.Module) -> int:
    """The parameters a token's forward uses: all but the (E - K) / E of each MoE layer's routed experts it skips."""
    n = sum(p.numel() for p in model.parameters())
    for layer in moe_layers(model):
        routed = sum(p.numel() for p in layer.experts.parameters())
        n -= routed * (layer.n_experts - layer.top_k) // layer.n_experts
    return n
