"""Attention maps: where each head of each layer looks, and a summary of each head.

The model attends with scaled_dot_product_attention, which never forms the weights. They are recomputed here,
only while inspecting, from what each attention layer read (lmlab.inspect.trace), exactly as the layer makes
its queries and keys (CausalSelfAttention.queries_keys_values: qk_norm, then RoPE; then grouped-query sharing):
    A = softmax(q k^T / sqrt(hs) + M),  M_ij = 0 for j <= i and -inf above the diagonal.
Each row A_i is a distribution over the tokens 0..i. A head's summary averages over the query positions
i >= 1 (position 0 can only attend to itself):
    distance   sum_j A_ij (i - j), in tokens: 1.0 for a head that always looks at the previous token
    entropy    -sum_j A_ij log2 A_ij, in bits: 0 for one token, log2(i + 1) for uniform attention
    first      A_i0, the share of attention on the first token (an "attention sink", Xiao et al. 2023)
    previous   A_i,i-1, the share on the previous token (the first half of an induction head, Olsson et al. 2022)
    itself     A_ii, the share on the query's own token
"""

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from lmlab.device import pick_device
from lmlab.errors import LmlabError
from lmlab.inspect.index import markdown_table, write_index
from lmlab.inspect.text import TokenizedText, tokenize
from lmlab.inspect.trace import trace
from lmlab.models.gpt import GPT, CausalSelfAttention, causal_mask
from lmlab.runs import load_run

LOOKS_LIKE = 0.5  # a head with more than half its attention on one place is named after it


def head_weights(attn: CausalSelfAttention, x: torch.Tensor, rope) -> torch.Tensor:
    """The attention weights (B, nh, T, T) of one layer, from its input x (B, T, C) and rope tables."""
    T, hs, nh, nkv = x.size(1), attn.head_size, attn.n_head, attn.n_kv_head
    q, k, _ = attn.queries_keys_values(x, rope)  # (B, nh, T, hs), (B, nkv, T, hs): as the layer makes them
    k = k.repeat_interleave(nh // nkv, dim=1)  # grouped-query attention: each key head serves nh/nkv query heads
    att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)  # (B, nh, T, hs) x (B, nh, hs, T) -> (B, nh, T, T)
    att = att.masked_fill(~causal_mask(T, T, x.device), float("-inf"))
    return F.softmax(att.float(), dim=-1)


@torch.no_grad()
def attention_weights(model: torch.nn.Module, idx: torch.Tensor) -> torch.Tensor:
    """idx (1, T) -> the attention weights of every layer and head, (n_layer, nh, T, T)."""
    if not isinstance(model, GPT):
        raise LmlabError(
            f"a recurrent {model.config.arch.upper()} has no attention: it reads the past only through its "
            "hidden state (see `lmlab inspect context` for how that state changes with the words around)"
        )
    recorded = trace(model, idx)
    maps = [head_weights(block.attn, x, rope) for block, (x, rope) in zip(model.h, recorded.attention_inputs)]
    return torch.cat(maps)  # (n_layer, nh, T, T): one text, its batch dimension stacked away


def head_summary(weights: torch.Tensor) -> list[dict]:
    """One dict per head of weights (n_layer, nh, T, T): layer and head (from 1), the statistics above, and
    "looks at": the place that gets more than half the head's attention, if one does."""
    L, nh, T, _ = weights.shape
    if T < 2:
        raise LmlabError("the text is one token: attention needs at least two to summarise")
    i = torch.arange(T)
    distance = (i[:, None] - i[None, :]).clamp(min=0).float()  # (T, T): i - j below the diagonal
    rows = weights[:, :, 1:]  # (L, nh, T-1, T): the queries i >= 1
    entropy = -(rows * torch.log2(rows.clamp_min(1e-30))).sum(-1)  # 0 log 0 = 0
    stats = {
        "distance": (rows * distance[1:]).sum(-1).mean(-1),
        "entropy": entropy.mean(-1),
        "first": rows[..., 0].mean(-1),
        "previous": weights.diagonal(offset=-1, dim1=-2, dim2=-1).mean(-1),  # A_{i,i-1} for i = 1..T-1
        "itself": weights.diagonal(dim1=-2, dim2=-1)[..., 1:].mean(-1),  # A_ii for i = 1..T-1
    }
    summary = []
    for layer in range(L):
        for head in range(nh):
            row = {"layer": layer + 1, "head": head + 1, **{k: float(v[layer, head]) for k, v in stats.items()}}
            row["looks at"] = looks_at(row)
            summary.append(row)
    return summary


def looks_at(head: dict) -> str:
    for key, place in (("previous", "previous token"), ("first", "first token"), ("itself", "itself")):
        if head[key] > LOOKS_LIKE:
            return place
    return ""


def summary_table(summary: list[dict]) -> list[str]:
    cells = [
        [h["layer"], h["head"], f"{h['distance']:.2f}", f"{h['entropy']:.2f}", f"{h['first']:.1%}",
         f"{h['previous']:.1%}", f"{h['itself']:.1%}", h["looks at"]]
        for h in summary
    ]  # fmt: skip
    header = ["layer", "head", "mean distance (tokens)", "entropy (bits)", "on first token", "on previous token"]
    return markdown_table(header + ["on itself", "looks at"], cells)


def plot_layer(weights: torch.Tensor, labels: list[str], path: Path, title: str, summary: list[dict]) -> Path:
    """One layer's heads (nh, T, T) as heatmaps in a grid, query tokens down, key tokens across."""
    nh, T, _ = weights.shape
    short = T <= 32  # a short text: small panels, four a row, every token labelled
    cols = min(nh, 4 if short else 2)
    rows = math.ceil(nh / cols)
    panel = 4.2 if short else 7.0  # inches
    ticks = list(range(0, T, math.ceil(T / 64)))  # at most 64 token labels an axis
    tick_labels = [labels[t] for t in ticks]
    fontsize = 7 if short else 5
    # Margins from the longest label, not tight_layout: measuring every label's extent takes half the plot's time.
    margin = 0.45 + max(len(t) for t in tick_labels) * fontsize * 0.65 / 72  # inches: tick labels + axis label
    width, height = panel * cols + margin + 0.2, panel * rows + margin + 0.8
    fig = Figure(figsize=(width, height), dpi=100)
    fig.subplots_adjust(left=margin / width, bottom=margin / height, right=1 - 0.2 / width, top=1 - 0.8 / height,
                        wspace=0.05, hspace=0.35 / panel)  # fmt: skip
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True, sharey=True)
    for head, ax in enumerate(axes.ravel()):
        if head >= nh:
            ax.set_axis_off()
            continue
        ax.imshow(weights[head].numpy(), cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        h = summary[head]
        ax.set_title(
            f"head {head + 1}: previous {h['previous']:.0%}, first {h['first']:.0%}, itself {h['itself']:.0%}",
            fontsize=9,
        )
    # The panels share their axes: token labels on the left column and the bottom row only (fewer, faster).
    axes[0, 0].set_xticks(ticks, tick_labels)
    axes[0, 0].set_yticks(ticks, tick_labels)
    for ax in axes.ravel():
        ax.tick_params(axis="x", labelrotation=90, labelsize=fontsize)
        ax.tick_params(axis="y", labelsize=fontsize)
        ax.label_outer()
    for ax in axes[:, 0]:
        ax.set_ylabel("query")
    for ax in axes[-1]:
        ax.set_xlabel("key (attended to)")
    fig.suptitle(title, y=1 - 0.15 / height, va="top")
    fig.savefig(path)
    return path


@dataclass
class AttentionResult:
    tokens: TokenizedText
    weights: torch.Tensor  # (n_layer, nh, T, T)
    summary: list[dict]  # one dict per head, as head_summary
    plots: list[Path]  # one grid a layer

    def report(self) -> list[str]:
        strongest = max(self.summary, key=lambda h: h["previous"])
        return [
            f"Causal self-attention over {len(self.tokens.ids)} tokens: each row is a query token, each column a key "
            "token it may attend to (the columns after it are masked). Statistics over query positions 1 and after:",
            "",
            *summary_table(self.summary),
            "",
            f"The most previous-token head: layer {strongest['layer']} head {strongest['head']}, "
            f"{strongest['previous']:.1%} of its attention on the previous token.",
        ]


def inspect_attention(run: str | Path, text: str, out: str | Path, device: str = "auto") -> AttentionResult:
    """The attention maps of a run's model over `text`: one PNG grid per layer and a head table in out/index.md."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    device = pick_device(device)
    model, tokenizer, _ = load_run(run, device)
    tokens = tokenize(tokenizer, text, model.config.block_size)
    weights = attention_weights(model, torch.tensor([tokens.ids], device=device)).cpu()
    summary = head_summary(weights)
    nh = weights.size(1)
    plots = [
        plot_layer(weights[layer], tokens.labels, out / f"attention_layer{layer + 1}.png",
                   f"{Path(run).name}: attention of layer {layer + 1}", summary[layer * nh : (layer + 1) * nh])
        for layer in range(weights.size(0))
    ]  # fmt: skip
    result = AttentionResult(tokens, weights, summary, plots)
    write_index(out, "attention", result.report() + [""] + [f"![layer {i + 1}]({p.name})" for i, p in enumerate(plots)])
    return result
