"""`lmlab run`: the default pipeline on the built-in corpus, end to end, with a report.

Stage 1 pre-trains the `cpu-small` GPT on the World English Bible, evaluates it and samples
from it; later stages join here. The report is RUN/report.md with its PNGs beside it.
"""

import json
import time
from pathlib import Path

from lmlab.config import build_config
from lmlab.evaluate import evaluate_run
from lmlab.generate import sample_text
from lmlab.report import metrics_table, plot_loss
from lmlab.stages.common import default_out
from lmlab.stages.pretrain import pretrain

SAMPLE_PROMPTS = ["John 3:16", "Genesis 1:1", "Psalms 23:1", "And Jesus said"]
QUICK = {"max_iters": 300, "eval_interval": 100, "warmup_iters": 30}


def run_pipeline(out=None, quick: bool = False, device: str = "auto", progress: bool = True) -> Path:
    root = Path(out or default_out("run"))
    root.mkdir(parents=True, exist_ok=True)
    overrides = {"device": device, "progress": progress, **(QUICK if quick else {})}
    timings = {}

    t = time.perf_counter()
    pre = pretrain(build_config("cpu-small", overrides=overrides), out=root / "pretrain")
    timings["pretrain"] = time.perf_counter() - t
    metrics = evaluate_run(pre, device=device, progress=progress)
    samples = {p: "".join(sample_text(pre, p, max_new_tokens=60, temperature=0.8, top_k=50, seed=0, device=device)) for p in SAMPLE_PROMPTS}
    plot_loss(pre, root / "pretrain_loss.png", "pre-training on the World English Bible")

    report = [
        "# lmlab run",
        "",
        f"Stage 1, pre-training (`cpu-small`, {'quick' if quick else 'default'} settings): {timings['pretrain'] / 60:.1f} min.",
        "",
        metrics_table({"validation": metrics}, ["val_loss", "val_perplexity", "val_bpb", "tokens"]),
        "",
        "![loss](pretrain_loss.png)",
        "",
        "## Samples (temperature 0.8, top-k 50)",
        "",
        *[f"```\n{text}\n```\n" for text in samples.values()],
    ]
    (root / "report.md").write_text("\n".join(report))
    (root / "results.json").write_text(json.dumps({"pretrain": metrics, "timings_s": timings, "samples": samples}, indent=1))
    return root
