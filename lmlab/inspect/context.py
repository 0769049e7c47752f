"""Context-dependent meaning: one word's hidden state in different sentences, compared layer by layer.

"bank" is the edge of a river in one sentence and a place for money in another. The embedding table gives
the token one vector whatever surrounds it; each layer then mixes in the words before it (attention, or the
recurrence), so the word's hidden states in two sentences can drift apart with depth. The measure is the cosine
similarity cos(h_a, h_b) = h_a . h_b / (|h_a| |h_b|) of the word's hidden state in sentences a and b, at the
embedding and after every layer (GPT: the residual stream before the final norm; recurrent: each layer's h_t).

How positions enter decides what the embedding row shows (position_note). A word of several tokens (" ban" "k")
is represented by its last token by default: in a causal model it is the only one that has read the whole word;
pool="mean" averages the word's tokens instead.
"""

from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from lmlab.device import pick_device
from lmlab.errors import LmlabError
from lmlab.inspect.index import markdown_table, write_index
from lmlab.inspect.text import tokenize, word_positions
from lmlab.inspect.trace import layer_names, trace
from lmlab.models.gpt import GPT
from lmlab.runs import load_run
from lmlab.tokenizer import Tokenizer

BANK = ("bank", ["I sat on the bank of the river", "I put money in the bank"])  # the report's example
POOLS = ("last", "mean")


def position_note(model: torch.nn.Module) -> str:
    """How positions enter the model, and so what the embedding-layer similarity of one token is: a sentence."""
    if not isinstance(model, GPT):
        return (
            "A recurrent model has no position signal (the recurrence reads the tokens in order): the embedding is "
            "the token's alone, so the same token has similarity 1 there."
        )
    encoding = model.config.pos_encoding
    if encoding == "rope":
        return (
            "With RoPE, positions enter only inside attention, as rotations of each query and key: the embedding is "
            "the token's alone, so the same token has similarity 1 there."
        )
    return (
        f"With {encoding} positions, a {encoding} vector of each position is added to the token embedding: the same "
        "token at different positions already differs there (similarity 1 only at the same position)."
    )


@dataclass
class ContextSimilarity:
    word: str
    sentences: list[str]
    word_tokens: list[list[str]]  # the tokens that spell the word, in each sentence
    positions: list[list[int]]  # their positions
    layers: list[str]  # "embedding", "layer 1", ...
    pairs: list[tuple[int, int]]  # sentence indices (a, b), a < b
    similarity: torch.Tensor  # (n_layers, n_pairs) cosine similarity
    pool: str
    position_note: str

    def pair_name(self, a: int, b: int) -> str:
        return f"{a + 1} vs {b + 1}"

    def table(self) -> list[str]:
        rows = [[name, *[f"{s:.4f}" for s in sims]] for name, sims in zip(self.layers, self.similarity.tolist())]
        return markdown_table(["layer", *[self.pair_name(a, b) for a, b in self.pairs]], rows)

    def report(self) -> list[str]:
        tokens = "last token" if self.pool == "last" else "mean of its tokens"
        return [
            f"Cosine similarity of the hidden state of {self.word!r} ({tokens}) between the sentences:",
            "",
            *[
                f"{i + 1}. {s!r}: tokens {' '.join(t)} at positions {p}"
                for i, (s, t, p) in enumerate(zip(self.sentences, self.word_tokens, self.positions))
            ],
            "",
            *self.table(),
            "",
            self.position_note,
        ]


@torch.no_grad()
def context_similarity(
    model: torch.nn.Module, tokenizer: Tokenizer, word: str, sentences: list[str], pool: str = "last"
) -> ContextSimilarity:
    """The cosine similarity of `word`'s hidden states between every pair of sentences, at every layer."""
    if len(sentences) < 2:
        raise LmlabError(f"context compares a word across two or more sentences; got {len(sentences)}")
    if pool not in POOLS:
        raise LmlabError(f"pool {pool!r}: expected one of {', '.join(POOLS)}")
    device = next(model.parameters()).device
    states, word_tokens, where = [], [], []
    for i, sentence in enumerate(sentences):
        tokens = tokenize(tokenizer, sentence, model.config.block_size, what=f"sentence {i + 1}")
        positions = word_positions(tokens, word, what=f"sentence {i + 1}")
        hidden = trace(model, torch.tensor([tokens.ids], device=device)).hidden  # n_layers x (1, T, C)
        at_word = torch.stack([h[0, positions] for h in hidden])  # (n_layers, n_word_tokens, C)
        states.append(at_word[:, -1] if pool == "last" else at_word.mean(1))  # (n_layers, C)
        word_tokens.append([tokens.labels[t] for t in positions])
        where.append(positions)
    pairs = list(combinations(range(len(sentences)), 2))
    similarity = torch.stack([F.cosine_similarity(states[a].float(), states[b].float(), dim=-1) for a, b in pairs], 1)
    return ContextSimilarity(word, list(sentences), word_tokens, where, layer_names(model), pairs,
                             similarity.cpu(), pool, position_note(model))  # fmt: skip


def plot_similarity(curves: dict[str, ContextSimilarity], path: Path, title: str) -> Path:
    """One panel per model side by side: the similarity of each sentence pair against depth."""
    fig = Figure(figsize=(4.2 * len(curves) + 0.6, 3.6), dpi=120)
    axes = fig.subplots(1, len(curves), squeeze=False, sharey=True)[0]
    for ax, (name, result) in zip(axes, curves.items()):
        for column, (a, b) in enumerate(result.pairs):
            ax.plot(range(len(result.layers)), result.similarity[:, column], "o-", label=result.pair_name(a, b))
        ax.set_xticks(range(len(result.layers)), [n.replace("layer ", "L") for n in result.layers], fontsize=8)
        ax.set(xlabel="depth", title=name)
        ax.grid(alpha=0.3)
        if len(result.pairs) > 1:
            ax.legend(fontsize=7, title="sentences")
    axes[0].set_ylabel(f"cosine similarity of {next(iter(curves.values())).word!r}")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    return path


def inspect_context(run: str | Path, word: str, sentences: list[str], out: str | Path, device: str = "auto",
                    pool: str = "last") -> ContextSimilarity:  # fmt: skip
    """`word`'s similarity across `sentences` by layer for a run's model: a table and out/context.png."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    device = pick_device(device)
    model, tokenizer, _ = load_run(run, device)
    result = context_similarity(model, tokenizer, word, sentences, pool)
    plot_similarity({Path(run).name: result}, out / "context.png", f"{word!r} in different sentences")
    write_index(out, "context", result.report() + ["", "![similarity by layer](context.png)"])
    return result
