"""The figures' shared style: one marker and line per architecture, and the number format of the tables."""

from pathlib import Path

STYLE = {"rnn": ("o", "-"), "lstm": ("s", "--"), "gru": ("^", "-."), "gpt": ("D", ":"),
         "rnn-attention": ("s", "--"), "transformer": ("D", ":")}  # fmt: skip


def new_figure(title: str, xlabel: str, ylabel: str):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.2), dpi=110)
    ax = fig.subplots()
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    return fig, ax


def save_figure(fig, ax, path: Path):
    ax.legend(framealpha=0.6, fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def series(ax, name: str, xs, ys, errors=None, label=None):
    marker, ls = STYLE.get(name, ("o", "-"))
    ax.errorbar(xs, ys, yerr=errors, marker=marker, ls=ls, capsize=3, alpha=0.85, label=label or name, markersize=5)


def _fmt(stats) -> str:
    return "-" if stats is None else f"{stats[0]:.3f} ± {stats[1]:.3f}" if stats[2] > 1 else f"{stats[0]:.3f}"
