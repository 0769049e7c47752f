"""The "beyond RNNs" experiment: what the Transformer changed, measured on one machine.

1. Language modelling at matched parameters and matched wall clock: RNN, LSTM, GRU and GPT, each
   trained for the same seconds through lmlab.pretrain; validation bits per byte and tokens/s.
2. Recall at distance d (lmlab.data.recall): accuracy vs d for each architecture.
3. Vanishing gradients: ||d loss_T / d x_t|| vs T - t for the trained language models.
4. Translation (KJV -> WEB): BLEU of rnn, rnn-attention and transformer, and BLEU vs source length.
5. A word in context: the cosine similarity of *bank*'s hidden state in two sentences, by layer, for each
   trained language model (lmlab.inspect.context).
Writes RUN/report.md and PNG figures. Results are reported as measured, whatever they show.
"""

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from lmlab.config import Config, TrainConfig, opt
from lmlab.data.recall import recall_batch, recall_vocab_size
from lmlab.data.tokens import prepare_data, prepare_tokenizer, random_batch
from lmlab.device import pick_device
from lmlab.losses import IGNORE, cross_entropy
from lmlab.models import build_model
from lmlab.models.config import ModelConfig
from lmlab.runs import load_run
from lmlab.stages.pretrain import PretrainConfig, pretrain
from lmlab.stages.recipe import default_out
from lmlab.trainer import Trainer

LM_ARCHS = ("rnn", "lstm", "gru", "gpt")
SEQ2SEQ_MODELS = ("rnn", "rnn-attention", "transformer")


@dataclass
class CompareSettings:
    data: str = opt("web", "the language-modelling corpus")
    gpt_layers: int = opt(4, "GPT layers; the recurrent models get the width that matches its parameter count")
    gpt_width: int = opt(128, "GPT width")
    block_size: int = opt(128, "context of every language model")
    lm_seconds: float = opt(100.0, "training seconds per language model (with start-up and evaluation ~1.2x)")
    # Peak lr per architecture: the best of 2e-3, 4e-3, 8e-3 (GPT: 1e-3, 2e-3, 4e-3) by `python bench/compare_lr.py`.
    lr_rnn: float = opt(4e-3, "peak learning rate of the RNN language model")
    lr_lstm: float = opt(4e-3, "peak learning rate of the LSTM language model")
    lr_gru: float = opt(2e-3, "peak learning rate of the GRU language model")
    lr_gpt: float = opt(4e-3, "peak learning rate of the GPT language model")
    recall_distances: str = opt("8,16,32,64,128,256,512", "comma-separated distances d of the recall task")
    recall_seconds: float = opt(65.0, "training seconds per recall model")
    recall_width: int = opt(64, "width of the one-layer recall models")
    recall_lr: float = opt(1e-2, "peak learning rate of the recall models")
    translate_seconds: float = opt(100.0, "training seconds per translation model")
    translate_width: int = opt(128, "width of the translation models")
    translate_vocab: int = opt(2000, "BPE vocabulary of the translation models")
    translate_max_len: int = opt(48, "longest source or target in tokens")
    translate_pairs: int = opt(0, "limit every split to this many pairs (0: all)")
    bleu_sentences: int = opt(300, "test verses translated and scored")
    batch_size: int = opt(16, "batch size of the language and recall models")
    cache_dir: str = opt("", "token cache; empty means $LMLAB_CACHE or ~/.cache/lmlab")

    @property
    def distances(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.recall_distances.split(","))


@dataclass
class CompareConfig(Config):
    PRESETS: ClassVar[dict[str, dict]] = {
        "quick": dict(
            gpt_layers=2, gpt_width=64, block_size=64, lm_seconds=20, recall_distances="8,16,32,64", recall_seconds=15,
            translate_seconds=20, translate_width=64, translate_vocab=1000, bleu_sentences=100,
        ),
    }  # fmt: skip
    compare: CompareSettings = field(default_factory=CompareSettings)


# ---- 1. language models ----------------------------------------------------------------------
def matched_width(arch: str, target_params: int, vocab_size: int, block_size: int) -> int:
    """The recurrent width (n_embd = hidden_size, 2 layers) whose parameter count is closest to target."""

    def params(width):
        return sum(
            p.numel()
            for p in build_model(
                ModelConfig(arch=arch, n_layer=2, n_embd=width, block_size=block_size, vocab_size=vocab_size)
            ).parameters()
        )

    return min(range(16, 1025, 8), key=lambda w: abs(params(w) - target_params))


def language_models(cc: CompareSettings, out: Path, device, archs=LM_ARCHS) -> dict:
    tokenizer = prepare_tokenizer(cc.data, "char", 0, cc.cache_dir or None)
    data = prepare_data(cc.data, tokenizer, 0.1, cc.cache_dir or None, progress=False)
    V, T = tokenizer.vocab_size, cc.block_size
    gpt_cfg = ModelConfig(
        arch="gpt",
        n_layer=cc.gpt_layers,
        n_head=4,
        n_embd=cc.gpt_width,
        block_size=T,
        vocab_size=V,
        pos_encoding="rope",
        norm="rmsnorm",
        bias=False,
    )
    target = sum(p.numel() for p in build_model(gpt_cfg).parameters())
    results = {}
    for arch in archs:
        lr = getattr(cc, f"lr_{arch}")
        if arch == "gpt":
            shape = dict(
                n_layer=cc.gpt_layers, n_head=4, n_embd=cc.gpt_width, pos_encoding="rope", norm="rmsnorm", bias=False
            )
        else:
            shape = dict(n_layer=2, n_embd=matched_width(arch, target, V, T))
        # Matched wall clock: every model trains for lm_seconds of steps, its cosine decay following the clock.
        config = PretrainConfig.build(
            overrides=dict(
                arch=arch,
                block_size=T,
                data=cc.data,
                tokenizer="char",
                cache_dir=cc.cache_dir,
                batch_size=cc.batch_size,
                lr=lr,
                min_lr=lr / 10,
                warmup_iters=10,
                max_iters=10**9,
                max_seconds=cc.lm_seconds,
                eval_interval=10**9,
                eval_iters=10,
                log_interval=50,
                progress=False,
                dtype="float32",
                device=str(device),
                **shape,
            )
        )
        params = sum(p.numel() for p in build_model(replace(config.model, vocab_size=V)).parameters())
        t0 = time.perf_counter()
        run = pretrain(config, out=out / f"lm-{arch}")
        seconds = time.perf_counter() - t0
        history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        speeds = [h["tokens_per_s"] for h in history[1:]] or [history[-1]["tokens_per_s"]]  # the first includes warm-up
        results[arch] = {
            "params": params,
            "lr": lr,
            "steps": history[-1]["step"],
            "seconds": seconds,
            "val_bpb": history[-1]["val_bpb"],
            "tokens_per_s": float(np.median(speeds)),
            "run": str(run),
        }
    results["_data"] = {"val": data.val, "block_size": T}
    return results


# ---- 2. recall -------------------------------------------------------------------------------
def recall_models(cc: CompareSettings, device) -> dict:
    L = max(cc.distances) + 3
    V = recall_vocab_size()
    accuracy = {}
    for arch in LM_ARCHS:
        # One layer of width recall_width each. The GPT's head runs at the one target position only
        # (recall_loss): with 500+ positions per row that is most of its step otherwise.
        if arch == "gpt":
            cfg = ModelConfig(
                arch="gpt", n_layer=1, n_head=4, n_embd=cc.recall_width, block_size=L, vocab_size=V, pos_encoding="rope"
            )
        else:
            cfg = ModelConfig(arch=arch, n_layer=1, n_embd=cc.recall_width, block_size=L, vocab_size=V)
        torch.manual_seed(0)
        model = build_model(cfg)

        def batch_fn(i):
            x, y = recall_batch(np.random.default_rng([1, i]), cc.batch_size, L, cc.distances)
            return {"inputs": x, "targets": y}

        tc = TrainConfig(
            max_iters=10**9,
            max_seconds=cc.recall_seconds,
            batch_size=cc.batch_size,
            lr=cc.recall_lr,
            min_lr=cc.recall_lr / 10,
            warmup_iters=20,
            eval_interval=10**9,
            log_interval=10**9,
            progress=False,
            device=str(device),
            dtype="float32",
        )
        Trainer(model, tc, None, batch_fn, recall_loss, device=device).fit()
        model.eval()
        accuracy[arch] = {}
        with torch.no_grad():
            for d in cc.distances:
                x, y = recall_batch(np.random.default_rng([2, d]), 200, L, [d])
                pred = model(x.to(device), last_only=True)[:, -1].argmax(-1).cpu()
                accuracy[arch][d] = float((pred == y[:, -1]).float().mean())
    return accuracy


def recall_loss(model, batch: dict):
    """Cross-entropy at the target position only; a GPT runs its output head only there."""
    targets = batch["targets"]
    if hasattr(model, "new_cache"):  # a GPT: logits at the targets only, (N, V)
        mask = targets != IGNORE
        return cross_entropy(model(batch["inputs"], target_mask=mask), targets[mask])
    return cross_entropy(model(batch["inputs"]), targets)


# ---- 3. gradients ----------------------------------------------------------------------------
def gradient_norms(lm: dict, device) -> dict:
    """||d loss_T / d x_t|| (mean over a batch) for every t of a block, per trained LM: x_t is the input embedding."""
    val, T = lm["_data"]["val"], lm["_data"]["block_size"]
    x, y = random_batch(val, 0, 16, T, 7)
    norms = {}
    for arch in LM_ARCHS:
        model, _, _ = load_run(lm[arch]["run"], device)
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


# ---- 4. translation --------------------------------------------------------------------------
def translation_models(cc: CompareSettings, out: Path, device) -> dict:
    from lmlab.data.translation import translation_pairs
    from lmlab.eval.bleu import evaluate_pairs, score
    from lmlab.models.seq2seq import Seq2SeqConfig
    from lmlab.stages.translate import TranslateConfig, TranslateDataConfig, translate_train
    from lmlab.tokenizer import train_tokenizer

    pairs = translation_pairs("verse")
    if cc.translate_pairs:
        pairs = {s: ps[: cc.translate_pairs] for s, ps in pairs.items()}
    texts = [p.source for p in pairs["train"]] + [p.target for p in pairs["train"]]
    tokenizer = train_tokenizer("bpe", texts, cc.translate_vocab)
    test = pairs["test"][: cc.bleu_sentences]
    lengths = np.array([len(tokenizer.encode(p.source)) for p in test])
    thirds = np.quantile(lengths, [1 / 3, 2 / 3])
    bins = np.digitize(lengths, thirds)  # 0 short, 1 middle, 2 long
    results = {}
    for name in SEQ2SEQ_MODELS:
        mcfg = Seq2SeqConfig(model=name, n_embd=cc.translate_width, n_head=4, dropout=0.1, max_len=cc.translate_max_len)
        tc = TrainConfig(
            max_iters=10**9,
            max_seconds=cc.translate_seconds,
            batch_size=32,
            lr=2e-3,
            min_lr=2e-4,
            warmup_iters=50,
            weight_decay=0.01,
            eval_interval=10**9,
            eval_iters=5,
            log_interval=50,
            progress=False,
            device=str(device),
            dtype="float32",
        )
        config = TranslateConfig(model=mcfg, train=tc, data=TranslateDataConfig(bleu_sentences=1))
        run = translate_train(config, out=out / f"translate-{name}", tokenizer=tokenizer, pairs=pairs)
        model, _, _ = load_run(run, device, kind="seq2seq")
        metrics = evaluate_pairs(model, tokenizer, test)
        hyps = metrics.pop("hypotheses")
        by_length = [bleu_of_bin(hyps, test, bins, k, score) for k in range(3)]
        steps = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["step"]
        results[name] = {**metrics, "steps": steps, "bleu_by_length": by_length, "run": str(run)}
    results["_length_edges"] = [float(t) for t in thirds]
    return results


def bleu_of_bin(hypotheses: list[str], pairs, bins, k: int, score) -> float:
    """BLEU of the hypotheses whose source falls in length bin k."""
    hyps = [h for h, b in zip(hypotheses, bins) if b == k] or [""]
    refs = [p.target for p, b in zip(pairs, bins) if b == k] or [""]
    return score(hyps, refs)["bleu"]


# ---- 5. a word in context --------------------------------------------------------------------
def context_curves(lm: dict, device) -> dict:
    """*bank* in the two sentences of BANK, by layer, for each trained language model (arch -> ContextSimilarity)."""
    from lmlab.inspect.context import BANK, context_similarity

    curves = {}
    for arch in LM_ARCHS:
        model, tokenizer, _ = load_run(lm[arch]["run"], device)
        curves[arch] = context_similarity(model, tokenizer, *BANK)
    return curves


# ---- the report ------------------------------------------------------------------------------
def new_figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(6, 4))


def save_figure(fig, ax, path: Path):
    import matplotlib.pyplot as plt

    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_recall(recall: dict, distances: tuple[int, ...], path: Path):
    fig, ax = new_figure()
    for arch in LM_ARCHS:
        ax.plot(distances, [recall[arch][d] for d in distances], marker="o", label=arch)
    ax.set_xscale("log", base=2)
    ax.set(xlabel="distance d", ylabel="accuracy")
    ax.axhline(0.5, color="gray", ls=":")
    save_figure(fig, ax, path)


def plot_gradients(grads: dict, path: Path):
    fig, ax = new_figure()
    for arch in LM_ARCHS:
        ax.plot(range(len(grads[arch])), grads[arch], label=arch)
    ax.set_yscale("log")
    ax.set(xlabel="T - t", ylabel="||d loss_T / d x_t||")
    save_figure(fig, ax, path)


def plot_bleu_by_length(tr: dict, path: Path):
    fig, ax = new_figure()
    for model in SEQ2SEQ_MODELS:
        ax.plot(["short", "middle", "long"], tr[model]["bleu_by_length"], marker="o", label=model)
    ax.set_ylabel("BLEU")
    save_figure(fig, ax, path)


def write_report(
    out: Path, lm: dict, recall: dict, grads: dict, tr: dict, context: dict, cc: CompareSettings, seconds: float
) -> Path:
    D = cc.distances
    lines = [
        "# Beyond RNNs: recurrent models vs the Transformer", "",
        f"Measured on this machine in {seconds / 60:.1f} min (`lmlab compare`); numbers as measured.", "",
        "## 1. Language modelling, matched parameters and wall clock", "",
        f"Corpus `{cc.data}`, character tokens, block {cc.block_size}, about {cc.lm_seconds:.0f} s of training each.",
        "", "| model | params | steps | val bpb | tokens/s |", "|---|---|---|---|---|",
    ]  # fmt: skip
    for a in LM_ARCHS:
        r = lm[a]
        lines.append(f"| {a} | {r['params']:,} | {r['steps']} | {r['val_bpb']:.3f} | {r['tokens_per_s']:.0f} |")
    lines += [
        "", "## 2. Recall at distance d", "",
        f"Accuracy of predicting the value of a key seen d tokens earlier (chance: 1/8), on sequences of {max(D) + 3} "
        f"tokens. Each model has one layer of width {cc.recall_width} and trains about {cc.recall_seconds:.0f} s "
        f"(lr {cc.recall_lr:g}, batch {cc.batch_size}, distances mixed).", "",
        "| model | " + " | ".join(f"d={d}" for d in D) + " | first d below 50% |", "|---" * (len(D) + 2) + "|",
    ]  # fmt: skip
    for a in LM_ARCHS:
        below = next((d for d in D if recall[a][d] < 0.5), None)
        cells = " | ".join(f"{recall[a][d]:.2f}" for d in D)
        lines.append(f"| {a} | {cells} | {below if below is not None else 'none'} |")
    lines += [
        "", "![recall](recall.png)", "", "## 3. Vanishing gradients", "",
        "||d loss_T / d x_t|| against T - t for the trained language models (log scale).", "",
        "![gradients](gradients.png)", "",
    ]  # fmt: skip
    e1, e2 = tr["_length_edges"]
    lines += [
        "## 4. Translation KJV -> WEB", "",
        f"Greedy search on {tr['rnn']['sentences']} test verses; source-length thirds split at {e1:.0f} and {e2:.0f} "
        "tokens.", "",
        "| model | steps | BLEU | chrF | BLEU short | BLEU middle | BLEU long |", "|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for m in SEQ2SEQ_MODELS:
        r = tr[m]
        thirds = " | ".join(f"{b:.2f}" for b in r["bleu_by_length"])
        lines.append(f"| {m} | {r['steps']} | {r['bleu']:.2f} | {r['chrf']:.2f} | {thirds} |")
    att, fixed = tr["rnn-attention"], tr["rnn"]
    gaps = [
        f"{a - f:+.1f} BLEU ({a / f:.1f}x)" if f > 0 else f"{a - f:+.1f} BLEU"
        for a, f in zip([att["bleu"], *att["bleu_by_length"]], [fixed["bleu"], *fixed["bleu_by_length"]])
    ]
    lines += [
        "", f"rnn-attention against the fixed-context rnn: overall {gaps[0]}; short third {gaps[1]}, middle "
        f"{gaps[2]}, long third {gaps[3]}.", "", "![bleu by length](bleu_length.png)", "",
    ]  # fmt: skip
    from lmlab.inspect.context import BANK, plot_similarity

    word, (first, second) = BANK
    depth = max(len(c.layers) for c in context.values())
    gpt = context["gpt"]
    header = ["model", "embedding"] + [f"layer {i}" for i in range(1, depth)]
    lines += [
        "## 5. A word in context", "",
        f"Cosine similarity of the hidden state of *{word}* in {first!r} and in {second!r}, at the embedding and "
        f"after each layer, at the word's last token ({gpt.word_tokens[0][-1]!r} of {' '.join(gpt.word_tokens[0])}: "
        "the one that has read the whole word). How fast it falls is how much each layer mixes in the words "
        f"around. {gpt.position_note} {context['rnn'].position_note}", "",
        "| " + " | ".join(header) + " |", "|---" * len(header) + "|",
    ]  # fmt: skip
    for a in LM_ARCHS:
        sims = [f"{s:.4f}" for s in context[a].similarity[:, 0].tolist()]
        lines.append(f"| {a} | " + " | ".join(sims + [""] * (depth - len(sims))) + " |")
    lines += ["", "![bank in two contexts](context.png)", ""]
    plot_recall(recall, D, out / "recall.png")
    plot_gradients(grads, out / "gradients.png")
    plot_bleu_by_length(tr, out / "bleu_length.png")
    plot_similarity(context, out / "context.png", f"{word!r} in two sentences: similarity by depth")
    bank = {a: dict(zip(c.layers, c.similarity[:, 0].tolist())) for a, c in context.items()}
    results = {"lm": {a: lm[a] for a in LM_ARCHS}, "recall": recall, "gradients": grads, "translation": tr,
               "context": bank}  # fmt: skip
    (out / "results.json").write_text(json.dumps(results, indent=1, default=float))
    (out / "report.md").write_text("\n".join(lines))
    return out


def run_compare(config: CompareConfig | None = None, out: str | Path | None = None, device="auto") -> Path:
    """Run the four experiments and write the report; returns the report folder."""
    cc = (config or CompareConfig()).compare
    out = Path(out or default_out("compare"))
    out.mkdir(parents=True, exist_ok=True)
    device = pick_device(device)
    t0 = time.perf_counter()
    lm = language_models(cc, out, device)
    recall = recall_models(cc, device)
    grads = gradient_norms(lm, device)
    context = context_curves(lm, device)
    tr = translation_models(cc, out, device)
    return write_report(out, lm, recall, grads, tr, context, cc, time.perf_counter() - t0)
