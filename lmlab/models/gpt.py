"""A GPT-style Transformer decoder (Radford et al. 2018/2019, with the modern options of Llama).

The model is a stack of pre-norm blocks, x = x + attn(norm(x)); x = x + mlp(norm(x)), over token
embeddings plus a positional signal, and a final norm and linear head that gives next-token logits.
Options: positional encoding (learned, sinusoidal as in Vaswani et al. 2017, or rotary as in
Su et al. 2021), LayerNorm or RMSNorm, GELU or SwiGLU MLP (Shazeer 2020), grouped-query attention
(Ainslie et al. 2023), and a KV cache for incremental decoding.
The modded-nanogpt options (Keller Jordan et al. 2024, the NanoGPT speedrun), each off by default:
    qk_norm         RMSNorm of each head's query and key (Henry et al. 2020, "Query-Key Normalization for
                    Transformers"; Dehghani et al. 2023, ViT-22B; also OLMo 2): q.k cannot grow with the
                    activations, the attention-logit blow-up ViT-22B saw in training.
    mlp="relu2"     ReLU squared, h = relu(x W1)^2 (So et al. 2021, "Primer").
    zero_init_proj  output projections start at zero, so each block starts as the identity (cf. Zhang et al.
                    2019, Fixup; Bachlechner et al. 2020, ReZero).
    logit_softcap   logits = cap * tanh(logits / cap) (Gemma Team 2024, Gemma 2): logits within (-cap, cap).
    tie_embeddings=False  an output head of its own, not the token embedding (Press & Wolf 2017 tie them).
Initialization (init): "gpt2", weights N(0, 0.02) with residual projections scaled by 1/sqrt(2 n_layer)
(Radford et al. 2019, made for width 768; the default), or "torch", each layer's PyTorch default
(embeddings N(0, 1), linear layers U(-1/sqrt(in), 1/sqrt(in))). At width 64 the second forms the
two-layer lookup of associative recall (an induction head) in ~1,500 steps where the first had not
formed it after 9,000 (lmlab compare, section 2).
Shapes: B batch, T time, C n_embd, nh heads, nkv key/value heads, hs head size, V vocab.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint

from lmlab.models.config import ModelConfig
from lmlab.models.moe import MoE, active_params


def sinusoidal_table(T: int, C: int) -> torch.Tensor:
    """PE(pos, 2i) = sin(pos / 10000^(2i/C)), PE(pos, 2i+1) = cos(...) (Vaswani et al., sec. 3.5)."""
    pos = torch.arange(T, dtype=torch.float32)[:, None]
    inv_freq = torch.exp(-math.log(10000.0) * torch.arange(0, C, 2, dtype=torch.float32) / C)
    table = torch.zeros(T, C)
    table[:, 0::2] = torch.sin(pos * inv_freq)
    table[:, 1::2] = torch.cos(pos * inv_freq)[:, : C // 2]
    return table


def rope_tables(T: int, hs: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of the rotation angles pos * theta^(-2i/hs), each (T, hs/2)."""
    inv_freq = 1.0 / theta ** (torch.arange(0, hs, 2, dtype=torch.float32) / hs)
    angles = torch.arange(T, dtype=torch.float32)[:, None] * inv_freq
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each (x1, x2) pair of the head dimension by its angle; x is (B, nh, T, hs)."""
    x1, x2 = x.chunk(2, dim=-1)
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


class Linear(nn.Linear):
    """nn.Linear, with a faster path for one row on the CPU (incremental decoding, batch 1).

    torch's CPU matrix-vector product runs on one thread and reaches ~10 GB/s of the ~50 GB/s
    this hardware streams; splitting the output rows into GEMV_SPLIT batched products lets bmm
    spread them over the cores (4x faster decoding here, bench/generation.py). Same weights,
    same state dict, same numbers up to float rounding.
    """

    GEMV_SPLIT = 4

    def forward(self, x):
        k = self.GEMV_SPLIT
        if x.device.type != "cpu" or torch.is_grad_enabled() or x.numel() != x.size(-1) or self.out_features % k:
            return super().forward(x)
        w = self.weight.view(k, self.out_features // k, self.in_features)  # (k, out/k, in)
        if torch.is_autocast_enabled("cpu"):
            w = w.to(torch.get_autocast_dtype("cpu"))
        # x as a (1, in, 1) column with the strides of a transposed row: bmm's fast layout.
        column = x.reshape(1, 1, -1).transpose(1, 2).expand(k, -1, 1).to(w.dtype)
        y = torch.bmm(w, column).view(*x.shape[:-1], self.out_features)  # (k, out/k, 1) -> (..., out)
        return y + self.bias.to(y.dtype) if self.bias is not None else y


class HeadRMSNorm(nn.RMSNorm):
    """RMSNorm over the head dimension of q or k (B, nh, T, hs), in their precision: bf16 under autocast, where
    nn.RMSNorm would meet an fp32 gain and leave the fused kernel."""

    def forward(self, x):
        return F.rms_norm(x, self.normalized_shape, self.weight.to(x.dtype), self.eps)


def causal_mask(T: int, S: int, device) -> torch.Tensor:
    """(T, S) bool, True where query i (at position S - T + i) may attend: keys 0..S-T+i."""
    return torch.ones(T, S, dtype=torch.bool, device=device).tril(S - T)


def make_norm(cfg: ModelConfig) -> nn.Module:
    if cfg.norm == "rmsnorm":
        return nn.RMSNorm(cfg.n_embd, eps=cfg.norm_eps)
    return nn.LayerNorm(cfg.n_embd, eps=cfg.norm_eps, bias=cfg.bias)


class KVCache:
    """Keys and values of every layer for the positions decoded so far, preallocated.

    k, v: (n_layer, B, nkv, block_size, hs); `pos` is how many positions are filled, the same for every row.
    (lmlab.inference.engine.SlotCache is the other cache the model takes: one position per row.)
    """

    def __init__(self, cfg: ModelConfig, batch_size: int, device, dtype=torch.float32):
        hs = cfg.n_embd // cfg.n_head
        shape = (cfg.n_layer, batch_size, cfg.kv_heads, cfg.block_size, hs)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.block_size = cfg.block_size
        self.pos = 0

    def positions(self, T: int, device) -> torch.Tensor:
        """The positions (T,) of the next T tokens; refuses to run past the context."""
        if self.pos + T > self.block_size:
            raise ValueError(f"sequence of {self.pos + T} tokens exceeds block_size {self.block_size}")
        return torch.arange(self.pos, self.pos + T, device=device)

    def attn_mask(self) -> None:
        return None  # every row at the same positions: the causal mask

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        """Store k, v (B, nkv, T, hs) at the current positions; return all keys and values so far."""
        T = k.size(2)
        self.k[layer, :, :, self.pos : self.pos + T] = k
        self.v[layer, :, :, self.pos : self.pos + T] = v
        end = self.pos + T
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]

    def advance(self, T: int):
        self.pos += T


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig, layer: int):
        super().__init__()
        assert cfg.n_embd % cfg.n_head == 0, "n_embd must be divisible by n_head"
        assert cfg.n_head % cfg.kv_heads == 0, "n_head must be a multiple of n_kv_head"
        self.layer = layer
        self.n_head, self.n_kv_head = cfg.n_head, cfg.kv_heads
        self.head_size = cfg.n_embd // cfg.n_head
        kv_width = 2 * self.n_kv_head * self.head_size
        self.c_attn = Linear(cfg.n_embd, cfg.n_embd + kv_width, bias=cfg.bias)
        self.c_proj = Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.dropout = cfg.dropout
        self.attn_impl = cfg.attn_impl
        self.rope = cfg.pos_encoding == "rope"
        if cfg.qk_norm:  # one learned gain of size hs, shared by the heads (as Qwen 3; modded-nanogpt's has none)
            self.q_norm = HeadRMSNorm(self.head_size, eps=cfg.norm_eps)
            self.k_norm = HeadRMSNorm(self.head_size, eps=cfg.norm_eps)

    def use_math_attention(self, x: torch.Tensor) -> bool:
        # bf16 scaled_dot_product_attention backward is slow on CPU; explicit softmax is not.
        if self.attn_impl != "auto":
            return self.attn_impl == "math"
        return x.device.type == "cpu" and torch.is_autocast_enabled("cpu")

    def queries_keys_values(self, x, rope=None):
        """x (B, T, C) -> q (B, nh, T, hs), k and v (B, nkv, T, hs), with qk-norm and RoPE applied
        (also what lmlab.inspect recomputes attention weights from)."""
        B, T, C = x.size()
        hs, nh, nkv = self.head_size, self.n_head, self.n_kv_head
        q, k, v = self.c_attn(x).split([C, nkv * hs, nkv * hs], dim=2)
        q = q.view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, nkv, hs).transpose(1, 2)  # (B, nkv, T, hs)
        v = v.view(B, T, nkv, hs).transpose(1, 2)
        if hasattr(self, "q_norm"):  # before RoPE (a rotation keeps the RMS) and before the cache stores k
            q, k = self.q_norm(q), self.k_norm(k)
        if self.rope:
            cos, sin = rope
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        return q, k, v

    def forward(self, x, rope=None, cache: KVCache | None = None):
        B, T, C = x.size()
        hs, nh, nkv = self.head_size, self.n_head, self.n_kv_head
        q, k, v = self.queries_keys_values(x, rope)
        row_mask = None
        if cache is not None:
            k, v = cache.update(self.layer, k, v)  # (B, nkv, pos+T, hs)
            row_mask = cache.attn_mask()  # (B, 1, T, S) when rows sit at different positions, else None
            q = q.to(k.dtype)  # attention in the cache's precision (an fp32 cache under bf16 weights: engine.py)
        if nkv != nh:  # grouped-query attention: each key/value head serves nh/nkv query heads
            k = k.repeat_interleave(nh // nkv, dim=1)
            v = v.repeat_interleave(nh // nkv, dim=1)
        p = self.dropout if self.training else 0.0
        S = k.size(2)  # keys so far: T, or the cached prefix + T
        if self.use_math_attention(x):
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))  # (B, nh, T, hs) x (B, nh, hs, S) -> (B, nh, T, S)
            if row_mask is not None:
                att = att.masked_fill(~row_mask, float("-inf"))
            elif T > 1:
                att = att.masked_fill(~causal_mask(T, S, x.device), float("-inf"))
            att = F.dropout(F.softmax(att, dim=-1), p=p, training=self.training)
            y = att @ v  # (B, nh, T, S) x (B, nh, S, hs) -> (B, nh, T, hs)
        else:
            # is_causal assumes S == T; a chunk after a cached prefix (1 < T < S) needs the explicit mask
            mask = row_mask if row_mask is not None else causal_mask(T, S, x.device) if 1 < T < S else None
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, is_causal=T > 1 and mask is None)
        y = y.transpose(1, 2).contiguous().view(B, T, C).to(x.dtype)
        return F.dropout(self.c_proj(y), p=p, training=self.training)


def mlp_hidden(cfg: ModelConfig) -> int:
    """The dense MLP's hidden width: mlp_hidden, else 4C (gelu, relu2), or for swiglu 2/3 of 4C, which keeps the GELU
    MLP's parameter count (Shazeer 2020), rounded up to 64."""
    if cfg.mlp_hidden:
        return cfg.mlp_hidden
    return 64 * math.ceil(8 * cfg.n_embd / 3 / 64) if cfg.mlp == "swiglu" else 4 * cfg.n_embd


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig, hidden: int = 0):
        """hidden: the hidden width (an MoE expert's); 0 means mlp_hidden(cfg)."""
        super().__init__()
        self.activation = cfg.mlp
        self.hidden = hidden = hidden or mlp_hidden(cfg)
        if self.activation == "swiglu":
            self.c_fc = Linear(cfg.n_embd, 2 * hidden, bias=cfg.bias)  # gate and up projections, stacked
        else:
            self.c_fc = Linear(cfg.n_embd, hidden, bias=cfg.bias)
        self.c_proj = Linear(hidden, cfg.n_embd, bias=cfg.bias)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x):
        h = self.c_fc(x)
        if self.activation == "swiglu":
            gate, up = h.chunk(2, dim=-1)
            h = F.silu(gate) * up
        elif self.activation == "relu2":
            h = F.relu(h).square()  # Primer (So et al. 2021): found by architecture search, sparse as ReLU
        else:
            h = F.gelu(h, approximate="tanh")
        return self.dropout(self.c_proj(h))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, layer: int):
        super().__init__()
        self.ln_1 = make_norm(cfg)
        self.attn = CausalSelfAttention(cfg, layer)
        self.ln_2 = make_norm(cfg)
        self.mlp = MoE(cfg, lambda hidden: MLP(cfg, hidden)) if cfg.moe_experts else MLP(cfg)

    def forward(self, x, rope=None, cache=None):
        x = x + self.attn(self.ln_1(x), rope, cache)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    # Activation checkpointing (Chen et al. 2016, "Training Deep Nets with Sublinear Memory Cost"): in training, keep
    # only each block's input and recompute the block in the backward pass; the trainer sets it (TrainConfig).
    checkpoint_blocks = False

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        assert cfg.vocab_size > 0, "vocab_size must be set (from the tokenizer)"
        self.config = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        if cfg.pos_encoding == "learned":
            self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)
        elif cfg.pos_encoding == "sinusoidal":
            self.register_buffer("pe", sinusoidal_table(cfg.block_size, cfg.n_embd), persistent=False)
        elif cfg.pos_encoding == "rope":
            cos, sin = rope_tables(cfg.block_size, cfg.n_embd // cfg.n_head, cfg.rope_theta)
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)
        else:
            raise ValueError(f"unknown pos_encoding {cfg.pos_encoding!r}")
        self.drop = nn.Dropout(cfg.dropout)
        self.h = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layer))
        self.ln_f = make_norm(cfg)
        self.lm_head = Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.lm_head.weight = self.wte.weight  # weight tying (Press & Wolf 2017)
        if cfg.init == "gpt2":  # else the layers keep their PyTorch defaults
            self.apply(self._init_weights)
        for name, p in self.named_parameters():
            # the projections that write into the residual stream
            if name.endswith("c_proj.weight") and (cfg.zero_init_proj or cfg.init == "gpt2"):
                if cfg.zero_init_proj:  # each block starts as the identity (modded-nanogpt)
                    nn.init.zeros_(p)
                else:  # GPT-2: scale residual projections by 1/sqrt(2 * n_layer)
                    nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, non_embedding: bool = True, active: bool = False) -> int:
        """Parameters, without the position table by default (it does no matmul work); active: only those a token's
        forward uses (an MoE layer's routed experts count K of E)."""
        n = active_params(self) if active else sum(p.numel() for p in self.parameters())
        if non_embedding and hasattr(self, "wpe"):
            n -= self.wpe.weight.numel()
        return n

    def flops_per_token(self) -> float:
        """Training FLOPs per token a causal model needs, fwd+bwd: 6N for the matmuls + 6 * L * C * T for attention.

        PaLM (app. B) counts 12 * L * C * T for the two attention matmuls over the full T x T; a causal model
        needs only the lower triangle, half of it, which is what causal kernels compute. MFU divides the FLOP/s
        this implies by the matmul peak measured on the machine (lmlab.device.measure_peak_flops), not a datasheet.
        """
        cfg = self.config
        return 6 * self.num_params(active=True) + 6 * cfg.n_layer * cfg.n_embd * cfg.block_size

    def new_cache(self, batch_size: int, device) -> KVCache:
        return KVCache(self.config, batch_size, device, dtype=self.lm_head.weight.dtype)

    def hidden_states(self, idx, cache: KVCache | None = None) -> torch.Tensor:
        """idx (B, T) token ids -> the final-normed residual stream (B, T, C) that the output head reads.

        With a cache, idx holds the next positions after cache.pos, and the cache advances.
        """
        B, T = idx.size()
        if cache is not None:
            pos = cache.positions(T, idx.device)  # (T,), or (B, T) when each row has its own
        elif T > self.config.block_size:
            raise ValueError(f"sequence of {T} tokens exceeds block_size {self.config.block_size}")
        else:
            pos = torch.arange(T, device=idx.device)
        x = self.wte(idx)  # (B, T, C)
        rope = None
        if hasattr(self, "wpe"):
            x = x + self.wpe(pos)
        elif hasattr(self, "pe"):
            x = x + self.pe[pos]
        else:
            cos, sin = self.rope_cos[pos], self.rope_sin[pos]  # (T, hs/2) or (B, T, hs/2)
            rope = (cos, sin) if pos.dim() == 1 else (cos[:, None], sin[:, None])  # broadcast over heads
        x = self.drop(x)
        recompute = self.checkpoint_blocks and self.training and torch.is_grad_enabled() and cache is None
        for block in self.h:
            if recompute:  # the block's activations are recomputed in backward (same dropout masks: RNG preserved)
                x = torch.utils.checkpoint.checkpoint(block, x, rope, use_reentrant=False)
            else:
                x = block(x, rope, cache)
        if cache is not None:
            cache.advance(T)
        return self.ln_f(x)

    def forward(self, idx, cache: KVCache | None = None, last_only: bool = False, target_mask=None):
        """idx (B, T) token ids -> logits (B, T, V), or (B, 1, V) with last_only.

        With target_mask (B, T) bool, logits only where it is True, (N, V): SFT scores assistant
        tokens only, and skipping the head on the rest saves its matmul and softmax there.
        With a cache, idx holds the next positions after cache.pos, and the cache advances.
        The model returns logits only; the losses live in lmlab.losses.
        """
        x = self.hidden_states(idx, cache)
        if last_only:
            x = x[:, -1:, :]
        elif target_mask is not None:
            x = x[target_mask]  # (N, C)
        return self.logits(x)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Final hidden states (..., C) -> next-token logits (..., V): the output head, then the optional soft cap.

        Every path from hidden states to logits goes through here, so the cap applies everywhere.
        """
        logits = self.lm_head(x)
        cap = self.config.logit_softcap
        if cap:  # Gemma 2 (Team 2024), modded-nanogpt: a smooth clamp to (-cap, cap), the identity near 0
            logits = cap * torch.tanh(logits / cap)
        return logits
