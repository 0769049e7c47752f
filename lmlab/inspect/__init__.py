"""Look inside a trained language model: attention maps, context-dependent meaning, the logit lens.

attention.py  where each head of each layer attends, and a summary of each head (GPT runs)
context.py    one word's hidden state in different sentences, compared layer by layer (any causal LM)
experts.py    which expert each token goes to in a mixture of experts, and the experts' load (GPT runs with MoE)
lens.py       the logit lens: each layer's residual stream decoded into next-token predictions (GPT runs)
trace.py      the one forward pass they all read, recording each layer's hidden states with hooks
text.py       the text's tokens, cut to the context, and where a word sits in it
index.py      DIR/index.md, the page listing what the inspections wrote
"""

from lmlab.inspect.attention import attention_weights, head_summary, inspect_attention
from lmlab.inspect.context import context_similarity, inspect_context
from lmlab.inspect.experts import expert_routing, inspect_experts
from lmlab.inspect.lens import inspect_lens, lens_distributions, logit_lens

__all__ = [
    "attention_weights",
    "context_similarity",
    "expert_routing",
    "head_summary",
    "inspect_attention",
    "inspect_context",
    "inspect_experts",
    "inspect_lens",
    "lens_distributions",
    "logit_lens",
]
