"""docs/pipeline.png: the stages of `lmlab run`, as the README shows them (matplotlib; no measurement).

python bench/pipeline_figure.py
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "docs" / "pipeline.png"
BOXES = {  # name: (x, y, title, detail)
    "data": (0.0, 1.0, "built-in data", "the WEB Bible, Chit Chat\nconversations, how-to, tasks"),
    "pre": (2.1, 1.0, "1. pre-training", "cpu-small GPT,\nnext-token prediction"),
    "sft": (4.2, 1.0, "2. SFT", "the chat mixture,\nassistant tokens only"),
    "pairs": (6.3, 2.0, "3. preference pairs", "own samples ranked:\nsentiment + safety"),
    "rm": (8.4, 2.55, "reward model", "Bradley-Terry"),
    "dpo": (8.4, 1.45, "DPO", "against the SFT\nreference"),
    "ppo": (10.5, 2.55, "PPO", "RLHF with a KL\npenalty"),
    "grpo": (6.3, 0.0, "GRPO", "verifiable rewards\non the tasks"),
    "report": (10.5, 0.5, "report + chat", "figures per stage,\n`lmlab chat`, `serve`"),
}
EDGES = [("data", "pre"), ("pre", "sft"), ("sft", "pairs"), ("pairs", "rm"), ("pairs", "dpo"), ("rm", "ppo"),
         ("sft", "grpo"), ("dpo", "report"), ("ppo", "report"), ("grpo", "report")]  # fmt: skip
W, H = 1.8, 0.8


def main():
    fig, ax = plt.subplots(figsize=(12.5, 3.9), dpi=110)
    for x, y, title, detail in BOXES.values():
        ax.add_patch(FancyBboxPatch((x, y), W, H, boxstyle="round,pad=0.04", fc="#eef3fb", ec="#3a5a8c", lw=1.2))
        ax.text(x + W / 2, y + H - 0.2, title, ha="center", va="center", fontsize=10, weight="bold")
        ax.text(x + W / 2, y + 0.3, detail, ha="center", va="center", fontsize=7.5)
    for a, b in EDGES:
        (xa, ya, *_), (xb, yb, *_) = BOXES[a], BOXES[b]
        start, end = (xa + W, ya + H / 2), (xb, yb + H / 2)
        if xa == xb:  # one above the other: bottom edge to top edge
            start, end = (xa + W / 2, ya), (xb + W / 2, yb + H)
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, color="#3a5a8c", lw=1.1))
    ax.set(xlim=(-0.2, 12.5), ylim=(-0.2, 3.5))
    ax.axis("off")
    ax.set_title("lmlab run: the whole story in about 24 minutes on 2 CPU cores", fontsize=11)
    fig.tight_layout()
    fig.savefig(OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
