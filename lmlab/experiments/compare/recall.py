"""Section 2, multi-query associative recall (lmlab.data.recall): accuracy against the number of pairs K and the
gap, with each recurrent model's state size; its figure and its part of the report."""

import time
from pathlib import Path

import numpy as np
import torch

from lmlab.data.recall import IGNORE, Vocab, mqar_batch, query_accuracy, values_only_accuracy
from lmlab.experiments.compare.crossover import _bar, matched_width, n_params
from lmlab.experiments.compare.plots import series
from lmlab.experiments.compare.settings import LEARNED, LM_ARCHS, CompareSettings, learned
from lmlab.losses import cross_entropy
from lmlab.models import build_model
from lmlab.models.config import ModelConfig


def recall_model_config(arch: str, cc: CompareSettings, vocab: Vocab) -> ModelConfig:
    """2 layers each. The GPT keeps PyTorch's default init: at width 64 GPT-2's N(0, 0.02) (made for width 768)
    left its lookup unformed after 240 s, where the default forms it in seconds (docs/figures.md)."""
    L, V = cc.recall_length, vocab.size
    gpt = ModelConfig(arch="gpt", n_layer=2, n_head=2, n_embd=cc.recall_width, block_size=L, vocab_size=V,
                      pos_encoding="rope", tie_embeddings=False, init="torch")  # fmt: skip
    if arch == "gpt":
        return gpt
    return ModelConfig(
        arch=arch, n_layer=2, n_embd=matched_width(arch, n_params(gpt), V, L), block_size=L, vocab_size=V
    )


def state_floats(cfg: ModelConfig) -> int:
    """Numbers a recurrent model carries from one token to the next: h per layer (and c for an LSTM)."""
    return cfg.n_layer * (cfg.hidden_size or cfg.n_embd) * (2 if cfg.arch == "lstm" else 1)


MAX_QUERIES = 16  # queries per recall row: min(K, MAX_QUERIES)


def queries(K: int) -> int:
    return min(K, MAX_QUERIES)


def recall_stages(cc: CompareSettings) -> list[tuple[int, int]]:
    """The curriculum: (largest K, largest gap) of each stage, short to long."""
    L, K = cc.recall_length, max(cc.ints("recall_pairs"))
    return [(min(4, K), 8), (min(16, K), 32), (K, L)]


def recall_logits(model, x, targets):
    """Logits at the query positions, (N, V); a GPT runs its output head there only."""
    mask = targets != IGNORE
    if hasattr(model, "new_cache"):
        return model(x, target_mask=mask)
    return model(x)[mask]


def train_recall(model, cc: CompareSettings, vocab: Vocab, device, seed: int = 0) -> dict:
    """Train on MQAR rows with a curriculum of growing K and gap (recall_stages): a stage ends when the running
    training accuracy reaches 95% or its share of the budget is spent; the last stage ends when the accuracy
    has not improved by 1 point in 1000 steps, or the budget runs out."""
    rng = np.random.default_rng([7, seed])
    stages = recall_stages(cc)
    ks = [k for k in (1, 2, 4, 8, 16, 32, 64, 128, 256) if k <= stages[-1][0]]
    optimizer = torch.optim.AdamW(model.parameters(), lr=cc.recall_lr, weight_decay=0.0)
    model.train()
    t0, step, stage, ema, best, best_step, log = time.perf_counter(), 0, 0, 0.0, 0.0, 0, []
    while (elapsed := time.perf_counter() - t0) < cc.recall_seconds:
        k_max, gap_max = stages[stage]
        K = int(rng.choice([k for k in ks if k <= k_max and (k > 1 or cc.recall_train_k1)] or [1]))
        Q = queries(K)
        room = cc.recall_length - 8 - 2 * K - 2 * Q
        gap_max = max(0, min(gap_max if rng.random() < 0.5 else 8, room))  # half the rows with short gaps
        gap = int(rng.integers(0, gap_max + 1))
        length = 2 * K + 2 * Q + gap + int(rng.integers(0, 8))
        x, y, _ = mqar_batch(rng, 32, length, K, gap, Q, vocab, cc.recall_distinct_queries)
        x, y = x.to(device), y.to(device)
        warm = min(1.0, (step + 1) / 50)
        for group in optimizer.param_groups:
            group["lr"] = cc.recall_lr * warm
        logits = recall_logits(model, x, y)
        loss = cross_entropy(logits, y[y != IGNORE])
        (loss.sum / loss.n).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        acc = float(query_accuracy(logits, y).float().mean())
        ema = acc if step == 1 else 0.98 * ema + 0.02 * acc
        last = stage == len(stages) - 1
        share = cc.recall_seconds * (stage + 1) / (len(stages) + 1)  # stage i ends by (i+1)/(n+1) of the budget
        if not last and ((ema >= 0.95 and step >= 100) or elapsed >= share):
            log.append({"stage": stage, "step": step, "seconds": elapsed, "train_accuracy": ema})
            stage, ema, best, best_step = stage + 1, 0.0, 0.0, step
        elif last:
            if ema > best + 0.01:
                best, best_step = ema, step
            elif step - best_step >= 1000:
                break
    log.append({"stage": stage, "step": step, "seconds": time.perf_counter() - t0, "train_accuracy": ema})
    model.eval()
    return {"steps": step, "seconds": time.perf_counter() - t0, "stages": log}


@torch.no_grad()
def recall_accuracy(model, cc: CompareSettings, vocab: Vocab, device, rows: int = 200) -> dict:
    """Held-out accuracy against K (gap recall_pairs_gap) and against the gap (K = recall_gap_pairs), with mean
    key-query distances."""

    def measure(seed, K, gap):  # (accuracy, mean key-query distance) on `rows` held-out rows
        Q = queries(K)
        length = 2 * K + 2 * Q + gap + 4
        x, y, d = mqar_batch(np.random.default_rng(seed), rows, length, K, gap, Q, vocab, cc.recall_distinct_queries)
        x, y = x.to(device), y.to(device)
        return float(query_accuracy(recall_logits(model, x, y), y).float().mean()), float(d.mean())

    by_k = {K: measure([2, K], K, cc.recall_pairs_gap)[0] for K in cc.ints("recall_pairs")}
    by_gap = {g: measure([3, g], cc.recall_gap_pairs, g) for g in cc.ints("recall_gaps")}
    return {
        "by_pairs": by_k,
        "by_gap": {g: a for g, (a, _) in by_gap.items()},
        "distance": {g: d for g, (_, d) in by_gap.items()},
    }


def recall_models(cc: CompareSettings, device) -> dict:
    vocab = Vocab()
    results = {}
    bar = _bar(len(LM_ARCHS), "recall models")
    for arch in LM_ARCHS:
        cfg = recall_model_config(arch, cc, vocab)
        torch.manual_seed(0)
        model = build_model(cfg).to(device)
        training = train_recall(model, cc, vocab, device)
        results[arch] = {
            **recall_accuracy(model, cc, vocab, device),
            **training,
            "params": sum(p.numel() for p in model.parameters()),
            "width": cfg.n_embd,
            "state": state_floats(cfg) if arch != "gpt" else None,
        }
        bar.update(1)
    bar.close()
    K = cc.recall_gap_pairs
    results["_task"] = {
        "chance": vocab.chance,
        "values_only": values_only_accuracy(K),
        "keys": vocab.n_keys,
    }
    return results


def plot_recall(recall: dict, cc: CompareSettings, path: Path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2), dpi=110)
    left, right = fig.subplots(1, 2)
    K = cc.recall_gap_pairs
    for ax, key, xlabel, title in (
        (left, "by_pairs", "key-value pairs K (log scale)", f"MQAR accuracy against K (gap {cc.recall_pairs_gap})"),
        (right, "by_gap", "gap: filler tokens before the queries", f"MQAR accuracy against the gap (K = {K})"),
    ):
        for arch in LM_ARCHS:
            r = recall[arch]
            label = f"{arch} (state {r['state']} floats)" if r["state"] else f"{arch} (attention)"
            series(ax, arch, list(r[key]), list(r[key].values()), label=label)
        ax.axhline(recall["_task"]["chance"], color="gray", ls=":", lw=1, label="chance")
        if key == "by_pairs":
            Ks = cc.ints("recall_pairs")
            ax.plot(Ks, [1 / k for k in Ks], color="gray", ls="--", lw=1, label="values only (1/K)")
        ax.set(title=title, xlabel=xlabel, ylabel="accuracy on held-out rows", ylim=(-0.03, 1.03))
        ax.grid(alpha=0.3)
        ax.legend(framealpha=0.6, fontsize=8)
    left.set_xscale("log", base=2)
    fig.tight_layout()
    fig.savefig(path)


BINDS = 0.1  # a model binds values to keys at K where it beats the values-only baseline 1/K by this much
FALLS = 0.2  # it falls with K where it scores this much below the GPT at the largest K
FORGETS = 0.1  # it forgets with the gap where it loses this much from the smallest gap to the largest


def recall_verdict(recall: dict, Ks: tuple[int, ...], gaps: tuple[int, ...]) -> list[str]:
    """The sentences that close section 2, by the rules of BINDS, FALLS, FORGETS and the did-not-learn rule."""
    task = recall["_task"]
    rule = LEARNED["recall"].format(**task)
    ok = {a: learned("recall", recall[a]["by_pairs"][min(Ks)]) for a in LM_ARCHS}
    failed = [a for a in LM_ARCHS if not ok[a]]
    verdict = [f"{', '.join(failed)} did not learn ({rule}), so no comparison is drawn with them."] if failed else []
    if not ok["gpt"]:
        return verdict + ["**Verdict:** the GPT did not learn here, so the measurement says nothing about the claim."]
    top = max(Ks)
    g_top = recall["gpt"]["by_pairs"][top]
    verdict.append(f"The GPT scores {g_top:.0%} at K = {top}.")
    rnns = [a for a in LM_ARCHS[:3] if ok[a]]
    bound = {a: [k for k in Ks if k > 1 and recall[a]["by_pairs"][k] >= 1 / k + BINDS] for a in rnns}
    # Falling with K tests the state's capacity only in a model that held facts at some K > 1: one at the
    # values-only baseline everywhere falls as 1/K does, whatever its state.
    fall = [a for a in rnns if bound[a] and recall[a]["by_pairs"][top] < g_top - FALLS]
    forget = [a for a in rnns if recall[a]["by_gap"][gaps[-1]] < recall[a]["by_gap"][gaps[0]] - FORGETS]
    for a in rnns:
        binds = (f"beats the values-only baseline up to K = {max(bound[a])}" if bound[a] else
                 "scores no more than the values-only baseline 1/K at every K > 1: it carries the row's values "
                 "but not which key each belongs to, so its fall with K is the baseline's, not a state filling "
                 "up")  # fmt: skip
        verdict.append(f"{a} (state {recall[a]['state']}): {recall[a]['by_pairs'][top]:.0%} at K = {top}, {binds}; "
                       f"{recall[a]['by_gap'][gaps[0]]:.0%} → {recall[a]['by_gap'][gaps[-1]]:.0%} from gap "
                       f"{gaps[0]} to {gaps[-1]}.")  # fmt: skip
    holds = g_top >= 0.9 and rnns and len(fall) == len(rnns)
    word = "supports" if holds and forget else "partly supports" if fall or forget else "does not support"
    verdict.append(f"**Verdict:** the measurement {word} the claim"
                   + (f" (falls with K as the state fills: {', '.join(fall) or 'none'}; forgets with the gap: "
                      f"{', '.join(forget) or 'none'})." if rnns else "."))  # fmt: skip
    return verdict


def recall_section(recall: dict, cc: CompareSettings) -> list[str]:
    Ks, gaps, K = cc.ints("recall_pairs"), cc.ints("recall_gaps"), cc.recall_gap_pairs
    task = recall["_task"]
    lines = [
        "## 2. Multi-query associative recall (MQAR)", "",
        "**Claim.** A recurrent model compresses everything it has read into a fixed-size state, so its recall falls "
        "as the number of facts outgrows the state and as the distance grows; attention looks back at the facts "
        "themselves and stays near 100% within its context.", "",
        f"Each row holds K key-value pairs (keys distinct, {task['keys']} keys and values), a gap of filler, then up "
        f"to 16 queries, each a key of the pairs drawn with replacement; the model must name each one's value "
        f"(Arora et al. 2023). With replacement, knowing which values the row holds but not their keys scores 1/K "
        f"(the values-only baseline); were each pair asked once, the last query would follow by elimination. All "
        f"four models have 2 layers at matched parameters and train up to {cc.recall_seconds:g} s (lr "
        f"{cc.recall_lr:g}, batch 32) on a curriculum: K up to 4 and gaps up to 8, then K up to 16 and gaps up to "
        "32, then everything (K = 1 included throughout); each stage ends at 95% training accuracy or its share of "
        "the time, and training stops when accuracy has not improved by a point in 1000 steps. Accuracy on 200 "
        f"held-out rows per cell; chance {task['chance']:.1%}. **Rules**: a model binds values to keys at K where "
        f"it beats 1/K by {BINDS:.0%} or more; it falls with K as its state fills where it binds at some K > 1 and "
        f"is {FALLS:.0%} or more below the GPT at the largest K; it forgets with the gap where it loses "
        f"{FORGETS:.0%} or more from the smallest gap to the largest.", "",
        "| model | params | state (floats) | steps | " + " | ".join(f"K={k}" for k in Ks) + " |",
        "|---" * (len(Ks) + 4) + "|",
    ]  # fmt: skip
    for arch in LM_ARCHS:
        r = recall[arch]
        state = r["state"] if r["state"] else f"KV cache: {2 * 2 * cc.recall_width} per token"
        lines.append(f"| {arch} | {r['params']:,} | {state} | {r['steps']} | "
                     + " | ".join(f"{r['by_pairs'][k]:.2f}" for k in Ks) + " |")  # fmt: skip
    lines.append("| values only (1/K) | | | | " + " | ".join(f"{1 / k:.2f}" for k in Ks) + " |")
    lines += ["", f"Against the gap, K = {K} (mean key-query distance in brackets):", "",
              "| model | " + " | ".join(f"gap {g} ({recall['gpt']['distance'][g]:.0f})" for g in gaps) + " |",
              "|---" * (len(gaps) + 1) + "|"]  # fmt: skip
    for arch in LM_ARCHS:
        lines.append(f"| {arch} | " + " | ".join(f"{recall[arch]['by_gap'][g]:.2f}" for g in gaps) + " |")
    lines += ["", "![recall](recall.png)", ""]
    return lines + [" ".join(recall_verdict(recall, Ks, gaps)), ""]
