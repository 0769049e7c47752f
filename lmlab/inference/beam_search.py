"""Translating with a trained encoder-decoder: greedy and beam search, and attention maps.

Greedy search takes the most likely token at each step. Beam search (as in Sutskever et al. 2014)
keeps the K best partial translations by summed log-probability and returns the finished one with
the best length-normalised score log p(y) / |y|^alpha (Wu et al. 2016 use a similar penalty);
with K = 1 it is greedy search.
"""

from dataclasses import dataclass

import torch

from lmlab.errors import LmlabError


@dataclass
class Translation:
    ids: list[int]  # target tokens, without <|bos|> and <|eos|>
    attention: torch.Tensor | None  # (len(ids) + 1, S) weights per output step, rnn-attention only


def max_steps(src_len: int) -> int:
    return 2 * src_len + 10


@torch.no_grad()
def greedy_decode(model, src, bos_id: int, eos_id: int) -> list[Translation]:
    """A batch of padded sources (B, S) -> one Translation each, argmax at every step."""
    state = model.encode(src)
    B = src.size(0)
    y = torch.full((B,), bos_id, dtype=torch.long, device=src.device)
    outputs, alphas = [], []
    done = torch.zeros(B, dtype=torch.bool, device=src.device)
    for _ in range(max_steps(src.size(1))):
        logits, alpha, state = model.step(state, y)
        y = logits.argmax(-1)
        outputs.append(y)
        alphas.append(alpha)
        done |= y == eos_id
        if done.all():
            break
    ys = torch.stack(outputs, 1).tolist()  # (B, steps)
    result = []
    for b in range(B):
        n = ys[b].index(eos_id) if eos_id in ys[b] else len(ys[b])
        attention = torch.stack([a[b] for a in alphas[: n + 1]]).float().cpu() if alphas[0] is not None else None
        result.append(Translation(ys[b][:n], attention))
    return result


@torch.no_grad()
def beam_search(model, src, bos_id: int, eos_id: int, beam: int = 4, alpha: float = 1.0) -> Translation:
    """One source (1, S) -> the best Translation of a beam of width `beam`."""
    if beam < 1:
        raise LmlabError(f"--beam must be at least 1, got {beam}")
    state = model.encode(src)
    tokens = torch.full((1, 1), bos_id, dtype=torch.long, device=src.device)  # (n live, t)
    scores = torch.zeros(1, device=src.device)  # summed log-probabilities of the live hypotheses
    attention = None  # (n live, t, S)
    finished: list[tuple[float, list[int], torch.Tensor | None]] = []
    for _ in range(max_steps(src.size(1))):
        logits, alpha_t, state = model.step(state, tokens[:, -1])
        logps = torch.log_softmax(logits.float(), dim=-1)  # (n, V)
        V = logps.size(-1)
        top_scores, top = (scores[:, None] + logps).view(-1).topk(min(2 * beam, logps.numel()))
        keep = []
        for score, flat in zip(top_scores.tolist(), top.tolist()):
            parent, token = divmod(flat, V)
            if token == eos_id:
                att = None if alpha_t is None else _extend(attention, alpha_t, parent)
                ids = tokens[parent, 1:].tolist()
                finished.append((score / (len(ids) + 1) ** alpha, ids, att))
            else:
                keep.append((score, parent, token))
            if len(keep) == beam:
                break
        if len(finished) >= beam or not keep:
            break
        parents = torch.tensor([p for _, p, _ in keep], device=src.device)
        new = torch.tensor([[t] for _, _, t in keep], device=src.device)
        tokens = torch.cat([tokens[parents], new], dim=1)
        scores = torch.tensor([s for s, _, _ in keep], device=src.device)
        if alpha_t is not None:
            attention = (
                torch.cat([attention[parents], alpha_t[parents][:, None]], 1)
                if attention is not None
                else alpha_t[parents][:, None]
            )
        state = {k: v.index_select(0, parents) for k, v in state.items()}
    if not finished:  # ran out of steps: take the best live hypothesis
        finished.append(
            (
                float(scores[0]) / tokens.size(1) ** alpha,
                tokens[0, 1:].tolist(),
                None if attention is None else attention[0],
            )
        )
    _, ids, att = max(finished, key=lambda f: f[0])
    return Translation(ids, None if att is None else att.float().cpu())


def _extend(attention, alpha_t, parent: int) -> torch.Tensor:
    """The attention rows of hypothesis `parent`, plus this step's row: (t, S)."""
    row = alpha_t[parent][None]
    return row if attention is None else torch.cat([attention[parent], row], 0)


def pad_batch(seqs: list[list[int]], pad: int) -> torch.Tensor:
    out = torch.full((len(seqs), max(len(s) for s in seqs)), pad, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return out


def translate_batch(model, tokenizer, sources: list[str], beam: int = 1, batch_size: int = 64) -> list[Translation]:
    """Translate sentences; beam 1 runs batched greedy search, wider beams one sentence at a time."""
    device = next(model.parameters()).device
    bos, eos, pad = tokenizer.special_id("<|bos|>"), tokenizer.eos_id, tokenizer.special_id("<|pad|>")
    encoded = [ids + [eos] for ids in tokenizer.encode_batch(sources)]
    model.eval()
    if beam == 1:
        result = []
        for i in range(0, len(encoded), batch_size):
            result += greedy_decode(model, pad_batch(encoded[i : i + batch_size], pad).to(device), bos, eos)
        return result
    return [beam_search(model, torch.tensor([ids], device=device), bos, eos, beam) for ids in encoded]


def plot_attention(translation: Translation, source_tokens: list[str], target_tokens: list[str], out):
    """Save the alignment heatmap: rows are output tokens, columns source tokens."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    att = translation.attention.numpy()
    fig, ax = plt.subplots(figsize=(max(4, 0.35 * len(source_tokens) + 2), max(3, 0.35 * len(target_tokens) + 2)))
    ax.imshow(att, cmap="viridis", aspect="auto", vmin=0.0)
    ax.set_xticks(range(len(source_tokens)), source_tokens, rotation=90, fontsize=8)
    ax.set_yticks(range(len(target_tokens)), target_tokens, fontsize=8)
    ax.set_xlabel("source (KJV)")
    ax.set_ylabel("output")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def translate_text(run, text: str, beam: int = 1, device="auto", plot: str | None = None) -> str:
    """Translate one sentence with a run folder's model; optionally save its attention heatmap."""
    from lmlab.device import pick_device
    from lmlab.runs import load_run

    if not text.strip():
        raise LmlabError("nothing to translate: the text is empty")
    model, tokenizer, record = load_run(run, pick_device(device), kind="seq2seq")
    if plot and record["model"]["model"] != "rnn-attention":
        raise LmlabError(f"--plot-attention needs an rnn-attention run; {run} is a {record['model']['model']} run")
    (result,) = translate_batch(model, tokenizer, [text], beam)
    if plot:

        def pieces(ids):
            return ["".join(ch if ch.isprintable() else "?" for ch in tokenizer.decode([i])) for i in ids]

        source = pieces(tokenizer.encode(text)) + ["<eos>"]
        plot_attention(result, source, pieces(result.ids) + ["<eos>"], plot)
    return tokenizer.decode(result.ids)
