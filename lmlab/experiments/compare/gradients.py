"""Section 3, vanishing gradients: ||d loss_T / d x_t|| against T - t for the trained language models."""

from pathlib import Path

import torch.nn.functional as F

from lmlab.data.tokens import random_batch
from lmlab.experiments.compare.plots import STYLE, new_figure, save_figure
from lmlab.experiments.compare.settings import LM_ARCHS
from lmlab.runs import load_run


def gradient_norms(lm: dict, device) -> dict:
    """||d loss_T / d x_t|| (mean over a batch) for every t of a block, per trained LM: x_t is the input embedding."""
    val, T = lm["_data"]["val"], lm["_data"]["block_size"]
    x, y = random_batch(val, 0, 16, T, 7)
    norms = {}
    for arch in LM_ARCHS:
        model, _, _ = load_run(lm["main"][arch], device)
        captured = {}

        def hook(module, inputs, output):
            output.retain_grad()
            captured["x"] = output

        handle = model.wte.register_forward_hook(hook)
        logits = model(x.to(device))
        F.cross_entropy(logits[:, -1].float(), y[:, -1].to(device)).backward()  # the loss at the last step only
        handle.remove()
        g = captured["x"].grad.norm(dim=-1).mean(0)  # (T,)
        norms[arch] = g.flip(0).tolist()  # index k: distance T-1-t = k
    return norms


def plot_gradients(grads: dict, path: Path):
    fig, ax = new_figure("Gradient of the last step's loss with respect to each input", "distance T - t (tokens)",
                         "||d loss_T / d x_t|| (log scale)")  # fmt: skip
    for arch in LM_ARCHS:
        ax.plot(range(len(grads[arch])), grads[arch], ls=STYLE[arch][1], label=arch)
    ax.set_yscale("log")
    save_figure(fig, ax, path)


def gradient_section(grads: dict) -> list[str]:
    decay = {a: grads[a][-1] / grads[a][0] for a in LM_ARCHS}
    T = len(grads["gpt"])
    lines = [
        "## 3. Vanishing gradients", "",
        "**Claim.** Backpropagated through a plain RNN, the gradient shrinks geometrically with distance; gates "
        "(LSTM, GRU) slow that decay and attention reaches every position directly.", "",
        f"||d loss_T / d x_t|| against T - t for the main trained language models (log scale); the ratio is the norm "
        f"at distance {T - 1} over the norm at distance 0.", "",
        "| model | " + " | ".join(LM_ARCHS) + " |", "|---" * (len(LM_ARCHS) + 1) + "|",
        "| ratio | " + " | ".join(f"{decay[a]:.2g}" for a in LM_ARCHS) + " |", "",
        "![gradients](gradients.png)", "",
    ]  # fmt: skip
    smallest = min(LM_ARCHS, key=decay.get)
    word = "supports" if smallest == "rnn" and decay["gpt"] > decay["rnn"] * 10 else "does not clearly support"
    return lines + [f"The steepest decay is {smallest}'s. **Verdict:** the measurement {word} the claim.", ""]
