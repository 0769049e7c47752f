"""Plots and Markdown reports of runs: what a person looks at after training."""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_metrics(run: Path) -> list[dict]:
    f = Path(run) / "metrics.jsonl"
    return [json.loads(line) for line in f.read_text().splitlines() if line] if f.is_file() else []


def plot_loss(run: Path, out: Path, title: str = "loss") -> Path:
    """Training and validation loss against step, as a PNG."""
    metrics = read_metrics(run)
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    ax.plot([m["step"] for m in metrics], [m["loss"] for m in metrics], label="train", lw=1)
    val = [m for m in metrics if "val_loss" in m]
    ax.plot([m["step"] for m in val], [m["val_loss"] for m in val], "o-", label="validation", lw=1.5)
    ax.set(xlabel="step", ylabel="cross-entropy (nats/token)", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def metrics_table(rows: dict[str, dict], keys: list[str]) -> str:
    """A Markdown table: one row per name, one column per metric key."""
    lines = ["| | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, metrics in rows.items():
        cells = [f"{metrics[k]:.4g}" if isinstance(metrics.get(k), float) else str(metrics.get(k, "")) for k in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_metrics(run: Path, panels: dict[str, list[str]], out: Path, title: str) -> Path:
    """One panel per entry of `panels` (its title -> the metric keys drawn in it) against step, as a PNG."""
    metrics = read_metrics(run)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.5), dpi=120, squeeze=False)
    for ax, (name, keys) in zip(axes[0], panels.items()):
        for key in keys:
            points = [m for m in metrics if key in m]
            ax.plot([m["step"] for m in points], [m[key] for m in points], "o-" if "val_" in key else "-", label=key)
        ax.set(xlabel="step", title=name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def markdown_cell(text: str) -> str:
    """Text fit for one cell of a Markdown table: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")
