"""Which expert each token goes to, in every mixture-of-experts layer (lmlab.models.moe): the router's top-k choice
and its weight per token and layer, as a picture (layers up, tokens across, the first choice's colour), with each
layer's expert load over the text."""

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from matplotlib.figure import Figure

from lmlab.device import pick_device
from lmlab.errors import LmlabError
from lmlab.inspect.index import markdown_table, write_index
from lmlab.inspect.text import TokenizedText, tokenize
from lmlab.models.moe import moe_layers
from lmlab.runs import load_run


@dataclass
class ExpertsResult:
    tokens: TokenizedText
    experts: torch.Tensor  # (layers, T, K): each token's experts, the router's first choice first
    weights: torch.Tensor  # (layers, T, K): their weights (renormalised over the K)
    n_experts: int

    def load(self) -> torch.Tensor:
        """(layers, E): the share of each layer's token-expert assignments that went to each expert."""
        counts = torch.stack([torch.bincount(e.flatten(), minlength=self.n_experts) for e in self.experts])
        return counts.float() / counts.sum(1, keepdim=True)

    def report(self) -> list[str]:
        load = self.load()
        rows = [[f"layer {i + 1}", *(f"{x:.0%}" for x in layer)] for i, layer in enumerate(load.tolist())]
        K = self.experts.size(-1)
        per_token = [[t, label, *(", ".join(f"{e} ({w:.2f})" for e, w in zip(es, ws)) for es, ws in
                                  zip(self.experts[:, t].tolist(), self.weights[:, t].tolist()))]
                     for t, label in enumerate(self.tokens.labels)]  # fmt: skip
        return [
            f"Routing of {len(self.tokens.ids)} tokens over {self.n_experts} experts ({K} a token), per layer:",
            "",
            "Each layer's expert load (the share of assignments; {:.0%} each is balanced):".format(1 / self.n_experts),
            "",
            *markdown_table(["layer", *(f"expert {e}" for e in range(self.n_experts))], rows),
            "",
            "Each token's experts (weight), by layer:",
            "",
            *markdown_table(["pos", "token", *(f"layer {i + 1}" for i in range(self.experts.size(0)))], per_token),
        ]


@torch.no_grad()
def expert_routing(model: torch.nn.Module, ids: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The top-k experts and weights of every token in every MoE layer, from one forward pass (hooks on the MoE
    layers read their input and ask the layer's own router)."""
    layers = moe_layers(model)
    if not layers:
        raise LmlabError("this run has no mixture-of-experts layers (train with --moe-experts E to have some)")
    seen = []
    hooks = [m.register_forward_hook(lambda m, args, out: seen.append(m.route(args[0].reshape(-1, args[0].size(-1)))))
             for m in layers]  # fmt: skip
    try:
        device = next(model.parameters()).device
        model(torch.tensor([ids], device=device))
    finally:
        for h in hooks:
            h.remove()
    return torch.stack([s[1] for s in seen]).cpu(), torch.stack([s[2] for s in seen]).cpu()


def plot_experts(result: ExpertsResult, path: Path, title: str) -> Path:
    """Layers up, tokens across; each cell the colour of the token's first-choice expert."""
    import matplotlib

    L, T, _ = result.experts.shape
    palette = "tab10" if result.n_experts <= 10 else "tab20"
    colours = matplotlib.colormaps[palette](torch.arange(result.n_experts).numpy() % 20)[:, :3]
    image = colours[result.experts[..., 0].numpy()]
    fig = Figure(figsize=(min(24, 2.5 + 0.18 * T), 1.4 + 0.45 * L), dpi=120)
    ax = fig.subplots()
    ax.imshow(image, aspect="auto", origin="lower", interpolation="nearest")
    ticks = list(range(0, T, math.ceil(T / 64)))
    ax.set_xticks(ticks, [result.tokens.labels[t] for t in ticks], rotation=90, fontsize=6)
    ax.set_yticks(range(L), [f"layer {i + 1}" for i in range(L)], fontsize=8)
    for e in range(result.n_experts):
        ax.plot([], [], "s", color=colours[e], label=f"expert {e}")
    ax.legend(fontsize=6, ncols=min(result.n_experts, 8), loc="upper center", bbox_to_anchor=(0.5, -0.35))
    ax.set(title=title)
    fig.tight_layout()
    fig.savefig(path)
    return path


def inspect_experts(run: str | Path, text: str, out: str | Path, device: str = "auto") -> ExpertsResult:
    """The routing of `text` through a run's MoE layers: a table and out/experts.png in out/index.md."""
    out = Path(out)
    model, tokenizer, _ = load_run(run, pick_device(device))
    tokens = tokenize(tokenizer, text, model.config.block_size)
    experts, weights = expert_routing(model, tokens.ids)
    result = ExpertsResult(tokens, experts, weights, model.config.moe_experts)
    out.mkdir(parents=True, exist_ok=True)
    plot_experts(result, out / "experts.png", f"{Path(run).name}: each token's first-choice expert, by layer")
    write_index(out, "experts", result.report() + ["", "![each token's expert by layer](experts.png)"])
    return result
