"""One forward pass that records each layer's hidden states, and what each attention layer read.

A GPT's hidden states are its residual stream: x_0 = the embedding (token, plus position for learned and
sinusoidal positions), x_l = x_{l-1} + attn + mlp after block l. They are read with forward hooks that only
look, so the pass is the model's own fast path and its logits are unchanged. A recurrent model's stacked
layers run inside one torch module that returns the top layer only, so its layers are run one at a time
from the same weights: the hidden state h_t of every layer, under the embedding sqrt(C) * E[idx_t].
"""

from dataclasses import dataclass, field

import torch
import torch.nn as nn

from lmlab.models.gpt import GPT


@dataclass
class Trace:
    hidden: list[torch.Tensor]  # n_layer + 1 tensors (B, T, C): the embedding, then the output of each layer
    logits: torch.Tensor  # (B, T, V), the model's own
    attention_inputs: list[tuple] = field(default_factory=list)  # GPT: (x, rope) that each attention layer read


def layer_names(model: nn.Module) -> list[str]:
    return ["embedding"] + [f"layer {i + 1}" for i in range(model.config.n_layer)]


@torch.no_grad()
def trace(model: nn.Module, idx: torch.Tensor) -> Trace:
    """idx (B, T) token ids -> every layer's hidden states and the logits, in one pass."""
    if not isinstance(model, GPT):
        return recurrent_trace(model, idx)
    hidden, attention_inputs = [], []
    hooks = [block.register_forward_pre_hook(lambda m, args: hidden.append(args[0])) for block in model.h]
    hooks.append(model.ln_f.register_forward_pre_hook(lambda m, args: hidden.append(args[0])))  # the last block's out
    for block in model.h:  # Block calls attn(ln_1(x), rope, cache)
        hooks.append(block.attn.register_forward_hook(lambda m, args, out: attention_inputs.append(args[:2])))
    try:
        logits = model(idx)
    finally:
        for h in hooks:
            h.remove()
    return Trace(hidden, logits, attention_inputs)


def recurrent_trace(model: nn.Module, idx: torch.Tensor) -> Trace:
    rnn = model.rnn
    x = model.wte(idx) * model.input_scale  # (B, T, C), as RecurrentLM.forward feeds the recurrence
    hidden = [x]
    for layer in range(rnn.num_layers):
        one = type(rnn)(x.size(-1), rnn.hidden_size, batch_first=True).to(x.device)  # layer `layer` of the stack
        one.load_state_dict({name.replace(f"_l{layer}", "_l0"): p for name, p in rnn.named_parameters()
                             if name.endswith(f"_l{layer}")})  # fmt: skip
        x, _ = one(x)  # (B, T, H)
        hidden.append(x)
    return Trace(hidden, model.lm_head(x))
