"""The architecture config shared by every lmlab language model.

One dataclass for all architectures keeps the command line flat (`--n-layer 4 --arch lstm`):
each model reads the fields that apply to it and documents which those are.
"""

from dataclasses import dataclass

from lmlab.config import derived, opt


@dataclass
class ModelConfig:
    arch: str = opt("gpt", "gpt | rnn | lstm | gru", ("gpt", "rnn", "lstm", "gru"))
    n_layer: int = opt(6, "Transformer blocks, or recurrent layers")
    n_head: int = opt(6, "attention heads")
    n_kv_head: int = opt(0, "grouped-query attention; 0 means n_head (plain multi-head attention)")
    n_embd: int = opt(384, "embedding width (the residual stream)")
    block_size: int = opt(256, "context length in tokens")
    vocab_size: int = derived(0, "set from the tokenizer")
    pos_encoding: str = opt("learned", "learned | sinusoidal | rope", ("learned", "sinusoidal", "rope"))
    norm: str = opt("layernorm", "layernorm | rmsnorm", ("layernorm", "rmsnorm"))
    mlp: str = opt("gelu", "gelu | swiglu | relu2 (ReLU squared, Primer)", ("gelu", "swiglu", "relu2"))
    dropout: float = opt(0.0, "dropout probability")
    bias: bool = opt(True, "biases in linear layers and LayerNorm")
    tie_embeddings: bool = opt(True, "share the input embedding with the output head")
    rope_theta: float = opt(10000.0, "RoPE base")
    norm_eps: float = opt(1e-5, "epsilon of LayerNorm / RMSNorm (imported models may use another)")
    mlp_hidden: int = opt(
        0, "MLP hidden width; 0 means 4 * n_embd (gelu, relu2) or 8/3 * n_embd rounded up to 64 (swiglu)"
    )
    qk_norm: bool = opt(False, "RMSNorm of each head's query and key before attention (and RoPE)")
    init: str = opt(
        "gpt2",
        "gpt2: weights N(0, 0.02), residual projections scaled by 1/sqrt(2 n_layer) (GPT-2, made for width 768) | "
        "torch: each layer's PyTorch default (embeddings N(0, 1)), which forms attention circuits far sooner at "
        "small widths (lmlab compare's recall task)",
        ("gpt2", "torch"),
    )
    zero_init_proj: bool = opt(False, "start the attention and MLP output projections at zero (blocks = identity)")
    logit_softcap: float = opt(0.0, "cap * tanh(logits / cap) on the output logits; 0 means off (Gemma 2: 30)")
    attn_impl: str = opt(
        "auto", "auto | sdpa | math (math: explicit softmax, faster for bf16 on CPU)", ("auto", "sdpa", "math")
    )
    hidden_size: int = opt(0, "recurrent models: 0 means n_embd")
    moe_experts: int = opt(0, "mixture of experts: routed experts in each block's MLP; 0 means a dense MLP")
    moe_top_k: int = opt(2, "experts each token is routed to")
    moe_shared: int = opt(0, "shared experts every token goes through (DeepSeekMoE), as one MLP of that many widths")
    moe_hidden: int = opt(0, "each expert's hidden width; 0 means the dense MLP's (mlp_hidden or its default)")
    moe_capacity: float = opt(0.0, "expert capacity factor: at most ceil(c N K / E) tokens an expert; 0 means dropless")
    moe_aux_weight: float = opt(0.01, "weight of the load-balancing loss (Switch Transformer)")
    moe_z_weight: float = opt(0.001, "weight of the router z-loss (ST-MoE)")

    @property
    def kv_heads(self) -> int:
        return self.n_kv_head or self.n_head
