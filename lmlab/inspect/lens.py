"""The logit lens (nostalgebraist 2020, "interpreting GPT: the logit lens"): what the model would predict if it
stopped after layer l.

Every block adds its output to the residual stream x, and the output head reads the last of it through the
final norm. Reading every x_l the same way,
    p_l(next token | tokens <= t) = softmax(head(norm_f(x_l[t]))),
shows when the prediction forms: at the last layer it is the model's own next-token distribution, exactly.
A recurrent model has no residual stream: each of its layers writes a new state in a basis of its own, and only
the top layer's is ever read by the head, so the lens is defined for GPT runs only.
"""

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from lmlab.device import pick_device
from lmlab.errors import LmlabError
from lmlab.inspect.index import markdown_table, write_index
from lmlab.inspect.text import TokenizedText, token_label, tokenize
from lmlab.inspect.trace import layer_names, trace
from lmlab.models.gpt import GPT
from lmlab.runs import load_run
from lmlab.tokenizer import Tokenizer


@torch.no_grad()
def lens_distributions(model: torch.nn.Module, idx: torch.Tensor) -> Iterator[torch.Tensor]:
    """idx (1, T) -> for the embedding and each layer in turn, p_l of every position, (T, V)."""
    if not isinstance(model, GPT):
        raise LmlabError(
            f"the logit lens reads a residual stream, and a recurrent {model.config.arch.upper()} has none: its "
            "lower layers write states the output head never reads (`lmlab inspect context` works on it)"
        )
    for x in trace(model, idx).hidden:  # (1, T, C) each, as the head reads the last one
        yield F.softmax(model.logits(model.ln_f(x)).float(), dim=-1)[0]


@dataclass
class LensResult:
    tokens: TokenizedText
    layers: list[str]  # "embedding", "layer 1", ...
    top: list[list[list[tuple[str, float]]]]  # [layer][position] -> the top_k (token, probability)
    correct: torch.Tensor  # (n_layers, T - 1): p_l of the token that does come next
    hit: torch.Tensor  # (n_layers, T - 1) bool: whether that token is p_l's top prediction

    def table(self) -> list[str]:
        labels = self.tokens.labels
        rows = []
        for t, label in enumerate(labels):
            following = labels[t + 1] if t + 1 < len(labels) else ""
            cells = [", ".join(f"{tok} {p:.0%}" for tok, p in self.top[layer][t]) for layer in range(len(self.layers))]
            rows.append([t, label, following, *cells])
        return markdown_table(["pos", "token", "next", *self.layers], rows)

    def by_layer(self) -> list[str]:
        """Per layer: the mean probability of the true next token, and how often it is the top prediction."""
        rows = []
        for layer, name in enumerate(self.layers):
            rows.append([name, f"{self.correct[layer].mean():.3f}", f"{self.hit[layer].float().mean():.1%}"])
        return markdown_table(["layer", "mean p(next token)", "top-1 is the next token"], rows)

    def report(self) -> list[str]:
        return [
            f"The logit lens over {len(self.tokens.ids)} tokens: each layer's residual stream read through the final "
            "norm and the output head (the last layer's is the model's own prediction).",
            "",
            *self.by_layer(),
            "",
            "Top predictions at each position, by layer:",
            "",
            *self.table(),
        ]


def logit_lens(model: torch.nn.Module, tokenizer: Tokenizer, tokens: TokenizedText, top_k: int = 3) -> LensResult:
    """The lens of every layer over `tokens`: each position's top_k predictions and p_l of the true next token."""
    if len(tokens.ids) < 2:
        raise LmlabError("the text is one token: the lens needs a next token to score")
    if top_k < 1:
        raise LmlabError(f"--top-k {top_k}: show at least one prediction")
    device = next(model.parameters()).device
    ids = torch.tensor([tokens.ids], device=device)
    names = {}  # token id -> label, decoded once

    def name(i: int) -> str:
        return names.setdefault(i, token_label(tokenizer.decode([i])))

    top, correct, hit = [], [], []
    for probs in lens_distributions(model, ids):  # (T, V)
        p, i = probs.topk(min(top_k, probs.size(-1)), dim=-1)  # (T, k)
        top.append([[(name(j), q) for j, q in zip(js, qs)] for js, qs in zip(i.tolist(), p.tolist())])
        correct.append(probs[:-1].gather(1, ids[0, 1:, None])[:, 0])  # p_l(tokens[t + 1]) at t < T - 1
        hit.append(i[:-1, 0] == ids[0, 1:])
    return LensResult(tokens, layer_names(model), top, torch.stack(correct).cpu(), torch.stack(hit).cpu())


def plot_lens(result: LensResult, path: Path, title: str) -> Path:
    """A heatmap of p_l(true next token): layers up, positions across, labelled by the token to predict."""
    L, N = result.correct.shape
    fig = Figure(figsize=(min(24, 2.5 + 0.18 * N), 1.2 + 0.45 * L), dpi=120)
    ax = fig.subplots()
    image = ax.imshow(result.correct.numpy(), cmap="viridis", vmin=0, vmax=1, aspect="auto", origin="lower",
                      interpolation="nearest")  # fmt: skip
    ticks = list(range(0, N, math.ceil(N / 64)))  # at most 64 token labels
    ax.set_xticks(ticks, [result.tokens.labels[t + 1] for t in ticks], rotation=90, fontsize=6)
    ax.set_yticks(range(L), result.layers, fontsize=8)
    ax.set(xlabel="the next token, to be predicted", title=title)
    fig.colorbar(image, ax=ax, label="p(next token)", fraction=0.03)
    fig.tight_layout()
    fig.savefig(path)
    return path


def inspect_lens(run: str | Path, text: str, out: str | Path, device: str = "auto", top_k: int = 3) -> LensResult:
    """The logit lens of a run's model over `text`: a table of predictions and out/lens.png in out/index.md."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    device = pick_device(device)
    model, tokenizer, _ = load_run(run, device)
    tokens = tokenize(tokenizer, text, model.config.block_size)
    result = logit_lens(model, tokenizer, tokens, top_k)
    plot_lens(result, out / "lens.png", f"{Path(run).name}: the logit lens")
    write_index(out, "lens", result.report() + ["", "![p(next token) by layer and position](lens.png)"])
    return result
