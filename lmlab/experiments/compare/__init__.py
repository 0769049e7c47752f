"""The "beyond RNNs" experiment: what the Transformer changed, measured on one machine.

Each section tests one claim of the story and says whether the measurement supports it:
1. The crossover: validation bits per byte against training seconds (several budgets, several model
   sizes, several seeds) for RNN, LSTM, GRU and GPT at matched parameters; tokens/s of each.
2. Multi-query associative recall (lmlab.data.recall): accuracy against the number of pairs K and
   against the gap, with each recurrent model's state size.
3. Vanishing gradients: ||d loss_T / d x_t|| vs T - t for the trained language models.
4. Translation (KJV -> WEB) of 1, 2 and 3 consecutive verses: BLEU and chrF against source length
   (Bahdanau et al. 2015, Fig. 2) for rnn, rnn-attention and transformer.
5. A word in context: how much context each layer mixes into a word, and whether it separates the word's senses.
Writes RUN/report.md, results.json and PNG figures. Results are reported as measured, whatever they show;
a model whose own score shows it did not learn (LEARNED) is named and left out of every comparison.

One module per section (crossover, recall, gradients, translation, context: each runs its experiment, draws its figures
and writes its part of the report), the settings and the "did not learn" rule in settings, the figures' style in
plots; this module runs them in turn and writes the report.
"""

import json
import re
import time
from pathlib import Path

import torch

from lmlab.data.recall import Vocab
from lmlab.device import cpu_model, pick_device
from lmlab.errors import LmlabError
from lmlab.experiments.compare.context import context_curves, context_results, context_section, plot_context
from lmlab.experiments.compare.crossover import (
    bpb_stats,
    crossover_point,
    language_models,
    lm_section,
    plot_crossover,
    plot_sizes,
)
from lmlab.experiments.compare.gradients import gradient_norms, gradient_section, plot_gradients
from lmlab.experiments.compare.recall import (
    plot_recall,
    queries,
    recall_logits,
    recall_model_config,
    recall_models,
    recall_section,
)
from lmlab.experiments.compare.settings import (
    LEARNED,
    LM_ARCHS,
    SEQ2SEQ_MODELS,
    CompareConfig,
    CompareSettings,
    learned,
)
from lmlab.experiments.compare.translation import plot_bleu_by_length, translation_models, translation_section
from lmlab.runs import load_run
from lmlab.stages.recipe import default_out

__all__ = [  # what the CLI, the benches and the tests take from here
    "LM_ARCHS", "SEQ2SEQ_MODELS", "CompareConfig", "CompareSettings", "bpb_stats", "crossover_point", "language_models",
    "learned", "lm_section", "plot_bleu_by_length", "plot_crossover", "plot_sizes", "recall_logits",
    "recall_model_config", "run_compare", "translation_models", "translation_section",
]  # fmt: skip


def environment_line() -> str:
    """The CPU (or GPU), the threads and the torch version: a figure without them is not comparable."""
    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return f"{cpu_model()}, {torch.get_num_threads()} threads{gpu}, torch {torch.__version__}"


def write_report(
    out: Path, lm: dict, recall: dict, grads: dict, tr: dict, context: dict, cc: CompareSettings, seconds: float
) -> Path:
    lines = ["# Beyond RNNs: recurrent models vs the Transformer", "",
             f"Measured on this machine in {seconds / 60:.1f} min (`lmlab compare"
             f"{' --quick' if cc.smoke_test else ''}`; {environment_line()}); numbers as measured.", ""]  # fmt: skip
    if cc.smoke_test:
        lines += ["> **Smoke test.** `--quick` checks that every experiment runs; its budgets are far too small for "
                  "conclusions. A model whose own score shows it did not learn is named and left out of every "
                  "comparison (the rule: " + "; ".join(f"{k}: {v}" for k, v in LEARNED.items()).format(
                      **recall["_task"]) + "). Run `lmlab compare` for the measurement.", ""]  # fmt: skip
    body = lm_section(lm, cc) + recall_section(recall, cc) + gradient_section(grads)
    body += translation_section(tr) + context_section(context)
    if cc.smoke_test:  # a smoke test's numbers test nothing: every verdict is withheld
        body = [re.sub(r"\*\*Verdict:\*\*.*", "**Verdict:** none; this is a smoke test.", line) for line in body]
    lines += body
    plot_crossover(lm, out / "crossover.png")
    if len(lm["sizes"]) > 1:
        plot_sizes(lm, out / "sizes.png")
    plot_recall(recall, cc, out / "recall.png")
    plot_gradients(grads, out / "gradients.png")
    plot_bleu_by_length(tr, out / "bleu_length.png")
    plot_context(context, out / "context.png")
    lm_out = {k: v for k, v in lm.items() if not k.startswith("_")}
    lm_out["runs"] = [{k: v for k, v in r.items() if k != "bpb_by_step"} for r in lm["runs"]]
    results = {"lm": lm_out, "recall": recall, "gradients": grads, "translation": tr}
    results["context"] = context_results(context)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=float))
    (out / "report.md").write_text("\n".join(lines))
    return out


def check_settings(cc: CompareSettings):
    """Stop before any training on settings that cannot work, naming the field."""
    names = ("sizes", "budgets", "recall_pairs", "recall_gaps", "translate_verses", "translate_train_verses")
    for name in names + ("length_edges",):
        cc.ints(name)
    budgets = cc.ints("budgets")
    if min(budgets) <= 0 or any(b % budgets[0] for b in budgets):
        raise LmlabError(f"compare.budgets: each budget must be a positive multiple of the first, got {cc.budgets!r}")
    longest = max(2 * K + 2 * queries(K) + cc.recall_pairs_gap + 8 for K in cc.ints("recall_pairs"))
    K = cc.recall_gap_pairs
    gap_rows = max(2 * K + 2 * queries(K) + g + 4 for g in cc.ints("recall_gaps"))
    if max(longest, gap_rows) > cc.recall_length:
        raise LmlabError(
            f"compare.recall_length {cc.recall_length} is shorter than the longest recall row "
            f"({max(longest, gap_rows)} tokens): lower recall_pairs or recall_gaps, or raise it"
        )
    if max(cc.ints("recall_pairs")) > Vocab().n_keys:
        raise LmlabError(f"compare.recall_pairs: at most {Vocab().n_keys} pairs (the distinct keys)")
    if cc.senses_run:  # read now, not after half an hour of training
        try:
            load_run(cc.senses_run, torch.device("cpu"))
        except LmlabError as e:
            raise LmlabError(f"compare.senses_run (--from): {e}") from None


def run_compare(config: CompareConfig | None = None, out: str | Path | None = None, device="auto") -> Path:
    """Run the five experiments and write the report; returns the report folder."""
    cc = (config or CompareConfig()).compare
    check_settings(cc)
    out = Path(out or default_out("compare"))
    out.mkdir(parents=True, exist_ok=True)
    device = pick_device(device)
    t0 = time.perf_counter()
    lm = language_models(cc, out, device)
    recall = recall_models(cc, device)
    grads = gradient_norms(lm, device)
    context = context_curves(lm, cc, device)
    tr = translation_models(cc, out, device)
    return write_report(out, lm, recall, grads, tr, context, cc, time.perf_counter() - t0)
