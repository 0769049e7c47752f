"""Section 5, a word in context: how much context each layer mixes into a word's state, and whether the state
separates the word's senses (the sense test, lmlab.inspect.senses), for the section-1 models and any run given."""

from pathlib import Path

from lmlab.data.senses import read_senses
from lmlab.experiments.compare.plots import STYLE
from lmlab.experiments.compare.settings import LM_ARCHS, CompareSettings
from lmlab.inspect.senses import ALPHA, MIN_GAP, sense_separation
from lmlab.runs import load_run

MIXING = 0.02  # "mixes in context": the mean similarity at the last layer below the embedding's by this much


def context_models(lm: dict, cc: CompareSettings) -> dict[str, str]:
    """name -> run folder: the four section-1 models, and the run of --from (e.g. lmlab run's RUN/pretrain)."""
    models = {arch: lm["main"][arch] for arch in LM_ARCHS}
    if cc.senses_run:
        models[f"{Path(cc.senses_run).name} (--from)"] = cc.senses_run
    return models


def context_curves(lm: dict, cc: CompareSettings, device) -> dict:
    """name -> {"results": [SenseResult per word], "position_note"} for every model of context_models."""
    from lmlab.inspect.context import position_note

    words = read_senses()
    curves = {}
    for name, run in context_models(lm, cc).items():
        model, tokenizer, _ = load_run(run, device)
        curves[name] = {"results": [sense_separation(model, tokenizer, s) for s in words],
                        "position_note": position_note(model)}  # fmt: skip
    return curves


def mixes(result) -> bool:
    return result.mixing[-1] < result.mixing[0] - MIXING


def verdict_of(curves: dict) -> str:
    """The claims of section 5 decided from the results by the rules the section states."""

    def count(name, rule):
        return sum(rule(r) for r in curves[name]["results"])

    if "gpt" not in curves:
        return "**Verdict:** not measured (no GPT)."
    n = len(curves["gpt"]["results"])
    mixing = [m for m in curves if count(m, mixes) > n / 2]
    separating = [m for m in curves if count(m, lambda r: r.separates) > n / 2]
    gpts = [m for m in curves if m == "gpt" or m.endswith("(--from)")]
    text = (f"Mixes in context (most words): {', '.join(mixing) or 'none'}. Separates senses (most words): "
            f"{', '.join(separating) or 'none'}. ")  # fmt: skip
    if any(m in separating for m in gpts):
        word = "supports"
    elif any(m in mixing for m in gpts):
        word = "partly supports"
    else:
        word = "does not support"
    return text + f"**Verdict:** the measurement {word} the claim."


def context_section(curves: dict) -> list[str]:
    first = next(iter(curves.values()))["results"]
    words = ", ".join(f"*{r.word}* ({r.senses[0]} / {r.senses[1]})" for r in first)
    n_sentences = sum(len(s) for s in read_senses()[0].sentences)
    lines = [
        "## 5. A word in context: mixing in context, and separating senses", "",
        "**Claim.** A language model's representation of a word depends on its context, more so with depth, and "
        "a model that has learned the word tells its senses apart: *bank* by a river is not *bank* for money. "
        "Two claims, measured apart: a layer can mix context into a word without separating its senses.", "",
        f"Words: {words}; {n_sentences} sentences per word, half per sense (`lmlab/data/senses.jsonl`), the words "
        "before it telling the sense. The state of the word (its last token) is compared between every two "
        "sentences by cosine similarity at the embedding and after each layer. **Mixing**: the mean similarity "
        f"over all pairs falls by more than {MIXING} from the embedding to the last layer. **Separating**: within "
        "a sense the states are more alike than across senses, within - across at the best layer beyond what "
        "every relabelling of the sentences into two groups gives (exact permutation test over all "
        f"splits, the best layer chosen inside the test; separates where p <= {ALPHA} and the difference is at least "
        f"{MIN_GAP}). A model "
        "does either when it does so for most of the words.", "",
        "| model | word | mean similarity: embedding → last layer | within - across at the best layer (± sd over "
        "relabellings) | p | separates |",
        "|---|---|---|---|---|---|",
    ]  # fmt: skip
    for name, curve in curves.items():
        for r in curve["results"]:
            b = r.best_layer
            lines.append(
                f"| {name} | {r.word} | {r.mixing[0]:.3f} → {r.mixing[-1]:.3f} | {r.gap[b]:+.3f} ± "
                f"{r.null_sd[b]:.3f} ({r.layers[b]}) | {r.p:.3f} | {'yes' if r.separates else 'no'} |"
            )
    notes = list(dict.fromkeys(c["position_note"] for c in curves.values()))  # each once, in the models' order
    if not any(name.endswith("(--from)") for name in curves):
        notes.append(
            "The four models here are section 1's character-level models of a few minutes; `lmlab compare "
            "--from RUN/pretrain` adds a model that knows the words (e.g. the one `lmlab run` pre-trains)."
        )
    lines += ["", " ".join(notes), "", "![within - across by layer](context.png)", "", verdict_of(curves), ""]
    return lines


def plot_context(curves: dict, path: Path):
    """One panel per model: within - across similarity against depth, one line per word."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.4 * len(curves) + 0.6, 3.6), dpi=110)
    axes = fig.subplots(1, len(curves), squeeze=False, sharey=True)[0]
    for ax, (name, curve) in zip(axes, curves.items()):
        for r in curve["results"]:
            xs = range(len(r.layers))
            line = ax.plot(xs, r.gap, STYLE.get(name, ("o", "-"))[0] + "-", ms=4, label=r.word)[0]
            ax.fill_between(xs, [-s for s in r.null_sd], r.null_sd, color=line.get_color(), alpha=0.08)
        ax.axhline(0, color="gray", lw=0.8)
        layers = curve["results"][0].layers
        ax.set_xticks(range(len(layers)), [n.replace("layer ", "L").replace("embedding", "emb") for n in layers],
                      fontsize=8)  # fmt: skip
        ax.set(title=name, xlabel="depth")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("within - across similarity")
    axes[-1].legend(fontsize=7)
    fig.suptitle("Same sense vs different senses (bands: ±1 sd over relabellings)")
    fig.tight_layout()
    fig.savefig(path)


def context_results(curves: dict) -> dict:
    """results.json's part of section 5."""
    return {name: [{**r.record(), "mixes": mixes(r)} for r in c["results"]] for name, c in curves.items()}
