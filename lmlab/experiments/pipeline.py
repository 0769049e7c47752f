"""`lmlab run`: the default pipeline on the built-in data, end to end, with a report.

Stage 1 pre-trains the `cpu-small` GPT on the World English Bible, evaluates it and samples from
it. Stage 2 fine-tunes it on the built-in instruction tasks (SFT) and measures held-out task
accuracy before and after, with a few example conversations. The report is RUN/report.md with
its PNGs beside it; RUN/results.json holds the same figures for scripts.
"""

import json
import time
from pathlib import Path

from lmlab.device import pick_device
from lmlab.eval.perplexity import evaluate_run
from lmlab.eval.task_accuracy import HEADLINE_TASKS, task_accuracy
from lmlab.experiments.report import metrics_table, plot_loss
from lmlab.inference.chat import ChatSession
from lmlab.inference.generate import sample_text
from lmlab.runs import load_run
from lmlab.stages.pretrain import PretrainConfig, pretrain
from lmlab.stages.recipe import default_out
from lmlab.stages.sft import SFTConfig, sft

SAMPLE_PROMPTS = ["John 3:16", "Genesis 1:1", "Psalms 23:1", "And Jesus said"]
CHAT_PROMPTS = [
    "What is 47 + 38?",
    "What is 512 + 277?",
    "Reverse the word 'light'.",
    "How many times does the letter 'e' appear in 'beginning'?",
    "Hello, how are you?",
]


def run_pipeline(out=None, quick: bool = False, device: str = "auto", progress: bool = True) -> Path:
    root = Path(out or default_out("run"))
    root.mkdir(parents=True, exist_ok=True)
    common = {"device": device, "progress": progress}
    n_tasks = 50 if quick else 200
    timings = {}

    t = time.perf_counter()
    config = PretrainConfig.build("cpu-small-quick" if quick else "cpu-small", overrides=common)
    pre = pretrain(config, out=root / "pretrain")
    timings["pretrain"] = time.perf_counter() - t
    lm_metrics = evaluate_run(pre, device=device, progress=progress)
    samples = {
        p: "".join(sample_text(pre, p, max_new_tokens=60, temperature=0.8, top_k=50, seed=0, device=device))
        for p in SAMPLE_PROMPTS
    }
    plot_loss(pre, root / "pretrain_loss.png", "pre-training on the World English Bible")

    t = time.perf_counter()
    tuned = sft(SFTConfig.build("quick" if quick else None, overrides=common), init=pre, out=root / "sft")
    timings["sft"] = time.perf_counter() - t
    plot_loss(tuned, root / "sft_loss.png", "SFT on the built-in tasks (assistant tokens only)")
    accuracy = {
        "pre-trained": task_accuracy(pre, HEADLINE_TASKS, n_tasks, device),
        "after SFT": task_accuracy(tuned, HEADLINE_TASKS, n_tasks, device),
    }
    conversations = example_conversations(tuned, device)

    report = [
        "# lmlab run",
        "",
        f"Settings: {'`--quick`' if quick else 'defaults'}. Pre-training {timings['pretrain'] / 60:.1f} min, "
        f"SFT {timings['sft'] / 60:.1f} min.",
        "",
        "## Stage 1: pre-training (`cpu-small` GPT on the World English Bible)",
        "",
        metrics_table({"validation": lm_metrics}, ["val_loss", "val_perplexity", "val_bpb", "tokens"]),
        "",
        "![pre-training loss](pretrain_loss.png)",
        "",
        "Samples (temperature 0.8, top-k 50):",
        "",
        *[f"```\n{text}\n```\n" for text in samples.values()],
        "## Stage 2: supervised fine-tuning on the built-in tasks",
        "",
        f"Exact-match accuracy on {n_tasks} held-out instances per task (greedy decoding):",
        "",
        metrics_table(accuracy, list(HEADLINE_TASKS)),
        "",
        "![SFT loss](sft_loss.png)",
        "",
        "Example conversations (temperature 0.7):",
        "",
        *[f"> **user:** {q}\n>\n> **assistant:** {a}\n" for q, a in conversations],
    ]
    (root / "report.md").write_text("\n".join(report))
    results = {
        "pretrain": lm_metrics,
        "task_accuracy": accuracy,
        "timings_s": timings,
        "samples": samples,
        "conversations": conversations,
    }
    (root / "results.json").write_text(json.dumps(results, indent=1))
    return root


def example_conversations(run: Path, device: str) -> list[tuple[str, str]]:
    model, tokenizer, _ = load_run(run, pick_device(device))
    pairs = []
    for prompt in CHAT_PROMPTS:
        session = ChatSession(model, tokenizer, seed=0)
        pairs.append((prompt, "".join(session.reply(prompt)).strip()))
    return pairs
