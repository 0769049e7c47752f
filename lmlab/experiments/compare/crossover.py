"""Section 1, the crossover: validation bits per byte against training seconds for RNN, LSTM, GRU and GPT at
matched parameters (several budgets, sizes and seeds), with its figures and its part of the report."""

import functools
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch

from lmlab.data.tokens import prepare_data, prepare_tokenizer, random_batch
from lmlab.experiments.compare.plots import _fmt, new_figure, save_figure, series
from lmlab.experiments.compare.settings import LEARNED, LM_ARCHS, CompareSettings, learned
from lmlab.models import build_model
from lmlab.models.config import ModelConfig
from lmlab.stages.pretrain import PretrainConfig, next_token_loss, pretrain


def gpt_shape(cc: CompareSettings, width: int) -> dict:
    return dict(
        n_layer=cc.gpt_layers, n_head=max(1, width // 32), n_embd=width, pos_encoding="rope", norm="rmsnorm", bias=False
    )


def n_params(cfg: ModelConfig) -> int:
    return sum(p.numel() for p in build_model(cfg).parameters())


@functools.cache
def matched_width(arch: str, target_params: int, vocab_size: int, block_size: int, n_layer: int = 2) -> int:
    """The recurrent width (n_embd = hidden_size, n_layer layers) whose parameter count is closest to target."""
    return min(
        range(8, 1025, 4),
        key=lambda w: abs(
            n_params(ModelConfig(arch=arch, n_layer=n_layer, n_embd=w, block_size=block_size, vocab_size=vocab_size))
            - target_params
        ),
    )


def lm_shape(arch: str, width: int, cc: CompareSettings, V: int) -> dict:
    """Model fields of `arch` at the size of the GPT of this width."""
    gpt = gpt_shape(cc, width)
    if arch == "gpt":
        return gpt
    target = n_params(ModelConfig(arch="gpt", block_size=cc.block_size, vocab_size=V, **gpt))
    return dict(n_layer=2, n_embd=matched_width(arch, target, V, cc.block_size))


def lm_config(
    cc: CompareSettings, arch: str, shape: dict, seed: int, steps: int, interval: int, device
) -> PretrainConfig:
    lr = getattr(cc, f"lr_{arch}")
    # One constant-lr run per seed, evaluated at every budget it passes (an anytime curve): each point is a
    # checkpoint of the same run, so the budgets cost the longest one, not their sum.
    return PretrainConfig.build(
        overrides=dict(
            arch=arch, block_size=cc.block_size, data=cc.data, tokenizer="char", cache_dir=cc.cache_dir,
            batch_size=cc.batch_size, lr=lr, schedule="constant", warmup_iters=min(100, max(1, steps // 20)),
            max_iters=steps, eval_interval=interval, eval_iters=20, log_interval=10**9, progress=False,
            dtype="float32", device=str(device), seed=seed, **shape,
        )
    )  # fmt: skip


def calibrate(cc: CompareSettings, jobs: list[tuple[str, int]], V: int, train: np.ndarray, device, rounds: int = 3):
    """Steps per second of each (arch, width) training on all cores, alternated round by round (the machine
    drifts): {(arch, width): {"steps_per_s", "tokens_per_s", "tokens_per_s_min", "tokens_per_s_max"}}."""
    models = {}
    for arch, width in jobs:
        torch.manual_seed(0)
        cfg = ModelConfig(arch=arch, block_size=cc.block_size, vocab_size=V, **lm_shape(arch, width, cc, V))
        model = build_model(cfg).to(device)
        models[arch, width] = (model, torch.optim.AdamW(model.parameters(), lr=1e-4))
    samples = {key: [] for key in models}

    def step(model, optimizer, i):
        x, y = random_batch(train, i, cc.batch_size, cc.block_size, 0)
        loss = next_token_loss(model, {"inputs": x.to(device), "targets": y.to(device)})
        (loss.sum / loss.n).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for r in range(rounds + 1):  # round 0 warms up
        for key, (model, optimizer) in models.items():
            n = 3 if r == 0 else 10
            t0 = time.perf_counter()
            for i in range(n):
                step(model, optimizer, i)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if r:
                samples[key].append(n / (time.perf_counter() - t0))
    tokens = cc.batch_size * cc.block_size
    return {
        key: {
            "steps_per_s": float(np.median(s)),
            "tokens_per_s": float(np.median(s)) * tokens,
            "tokens_per_s_min": min(s) * tokens,
            "tokens_per_s_max": max(s) * tokens,
        }
        for key, s in samples.items()
    }


def _lm_job(job: dict) -> dict:
    """One language-model run (in a worker process): {val_bpb by step, params, run}."""
    torch.set_num_threads(job["threads"])
    t0 = time.perf_counter()
    run = pretrain(job["config"], out=job["out"])
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    bpb = {h["step"]: h["val_bpb"] for h in history if "val_bpb" in h}
    return {**{k: v for k, v in job.items() if k not in ("config", "threads")}, "bpb_by_step": bpb,
            "wall_seconds": time.perf_counter() - t0, "run": str(run)}  # fmt: skip


def unigram_bpb(train: np.ndarray, val: np.ndarray, bytes_per_token: float, V: int) -> float:
    """Bits per byte of the validation split under the training split's token frequencies (add-one)."""
    counts = np.bincount(train, minlength=V) + 1.0
    p = counts / counts.sum()
    return float(-np.log2(p[val]).mean() / bytes_per_token)


def language_models(cc: CompareSettings, out: Path, device) -> dict:
    tokenizer = prepare_tokenizer(cc.data, "char", 0, cc.cache_dir or None)
    data = prepare_data(cc.data, tokenizer, 0.1, cc.cache_dir or None, progress=False)
    data.check_fits(cc.block_size)
    V = tokenizer.vocab_size
    sizes, budgets = cc.ints("sizes"), cc.ints("budgets")
    size_budget = cc.size_budget or max(budgets)
    print(f"compare: timing {len(LM_ARCHS) * len(sizes)} language models ...", file=sys.stderr)
    speed = calibrate(cc, [(a, w) for w in sizes for a in LM_ARCHS], V, data.train, device)
    workers = cc.workers or (1 if device.type != "cpu" else max(1, os.cpu_count() or 1))
    threads = max(1, torch.get_num_threads() // workers) if device.type == "cpu" else 1
    jobs = []
    for w_index, width in enumerate(sizes):
        longest = max(budgets) if w_index == 0 else size_budget
        for arch in LM_ARCHS:
            sps = speed[arch, width]["steps_per_s"]
            interval = max(1, round(budgets[0] * sps))  # steps per smallest budget
            steps = interval * round(longest / budgets[0])
            shape = lm_shape(arch, width, cc, V)
            params = n_params(ModelConfig(arch=arch, block_size=cc.block_size, vocab_size=V, **shape))
            for seed in range(cc.seeds):
                name = f"lm-{arch}-{width}-s{seed}"
                config = lm_config(cc, arch, shape, cc.seed + seed, steps, interval, device)
                jobs.append(dict(arch=arch, width=width, seed=seed, params=params, interval=interval,
                                 config=config, out=str(out / name), threads=threads))  # fmt: skip
    # Budgets are steps at the calibrated speed, so runs in parallel (or on a busy machine) train exactly as
    # long as one alone would: the seconds on the x axis are this machine's, all cores, one model at a time.
    results = []
    bar = _bar(len(jobs), "language models")
    if workers == 1:
        for job in jobs:
            results.append(_lm_job(job))
            bar.update(1)
    else:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            for future in as_completed([pool.submit(_lm_job, job) for job in jobs]):
                results.append(future.result())
                bar.update(1)
    bar.close()
    for r in results:
        r["bpb"] = {b: r["bpb_by_step"].get(r["interval"] * (b // budgets[0])) for b in budgets}
        r["bpb"] = {b: v for b, v in r["bpb"].items() if v is not None}
    results.sort(key=lambda r: (r["width"], LM_ARCHS.index(r["arch"]), r["seed"]))
    main = {r["arch"]: r["run"] for r in results if r["width"] == sizes[0] and r["seed"] == 0}
    return {
        "runs": results,
        "speed": {f"{a}/{w}": v for (a, w), v in speed.items()},
        "main": main,
        "sizes": sizes,
        "budgets": budgets,
        "size_budget": size_budget,
        "unigram_bpb": unigram_bpb(data.train, data.val, data.bytes_per_token["val"], V),
        "_data": {"val": data.val, "block_size": cc.block_size},
    }


def _bar(total: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="model", dynamic_ncols=True)


def bpb_stats(lm: dict, arch: str, width: int, budget: int) -> tuple[float, float, int] | None:
    """(mean, standard deviation, seeds) of the validation bpb of arch at width and budget; None if unmeasured."""
    values = [r["bpb"][budget] for r in lm["runs"] if r["arch"] == arch and r["width"] == width and budget in r["bpb"]]
    if not values:
        return None
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0, len(values)


def ahead(lm: dict, arch: str, width: int, budget: int) -> bool:
    """The GPT is ahead of arch beyond the seed spread: its mean bpb plus one standard deviation below arch's mean
    minus one (with one seed, the means alone)."""
    g, r = bpb_stats(lm, "gpt", width, budget), bpb_stats(lm, arch, width, budget)
    return g[0] + g[1] < r[0] - r[1]


def crossover_point(lm: dict, arch: str) -> int | None:
    """The smallest budget at which the GPT is ahead of arch beyond the seed spread (`ahead`) with its mean bpb
    below arch's at every larger budget, at the main size; None if there is none."""
    width, budgets = lm["sizes"][0], lm["budgets"]
    below = [bpb_stats(lm, "gpt", width, b)[0] < bpb_stats(lm, arch, width, b)[0] for b in budgets]
    for i, b in enumerate(budgets):
        if ahead(lm, arch, width, b) and all(below[i:]):
            return b
    return None


def plot_crossover(lm: dict, path: Path):
    width = lm["sizes"][0]
    fig, ax = new_figure(f"Validation bpb against budget (GPT width {width})", "training seconds (log scale)",
                         "validation bits per byte")  # fmt: skip
    for arch in LM_ARCHS:
        stats = [bpb_stats(lm, arch, width, b) for b in lm["budgets"]]
        series(
            ax,
            arch,
            lm["budgets"],
            [s[0] for s in stats],
            [s[1] for s in stats],
            f"{arch} (mean ± sd, {stats[0][2]} seeds)",
        )
    ax.set_xscale("log")
    ax.set_xticks(lm["budgets"], [str(b) for b in lm["budgets"]])
    ax.set_xticks([], minor=True)
    save_figure(fig, ax, path)


def plot_sizes(lm: dict, path: Path):
    b = lm["size_budget"]
    fig, ax = new_figure(
        f"Validation bpb against model size after {b:g} s", "parameters (log scale)", "validation bits per byte"
    )
    for arch in LM_ARCHS:
        points = sorted(
            (next(r["params"] for r in lm["runs"] if r["arch"] == arch and r["width"] == w), bpb_stats(lm, arch, w, b))
            for w in lm["sizes"]
        )
        points = [(n, st) for n, st in points if st]
        series(ax, arch, [n for n, _ in points], [st[0] for _, st in points], [st[1] for _, st in points])
    ax.set_xscale("log")
    save_figure(fig, ax, path)


def lm_section(lm: dict, cc: CompareSettings) -> list[str]:
    width, budgets, unigram = lm["sizes"][0], lm["budgets"], lm["unigram_bpb"]
    last = budgets[-1]
    lines = [
        "## 1. The crossover: bits per byte against training budget and model size", "",
        "**Claim.** A recurrent network is cheap per token and may win at tiny budgets; the Transformer trains in "
        "parallel and uses its context, so as the budget or the model grows it overtakes each recurrent model.", "",
        f"Corpus `{cc.data}`, characters, context {cc.block_size}, batch {cc.batch_size}, fp32. The GPT has "
        f"{cc.gpt_layers} layers; each recurrent model has 2 layers of the width that matches its parameters. Each "
        f"(model, size, seed) is one run at its tuned constant lr, evaluated (20 batches of validation) at every "
        f"budget it passes. A budget is steps at the model's speed measured on this machine with all cores (rounds "
        f"alternated), so the runs can share the machine and still train as long as one alone would. "
        f"{cc.seeds} seed(s); mean ± standard deviation. **Rule**: the GPT overtakes a model at the first budget "
        "where its mean plus one standard deviation is below the other's mean minus one, its mean staying below "
        "at every larger budget; the claim is supported where it overtakes every recurrent model that learned, "
        "partly where it overtakes some.", "",
        "| model | params | tokens/s (all cores) | " + " | ".join(f"{b} s" for b in budgets) + " |",
        "|---" * (len(budgets) + 3) + "|",
    ]  # fmt: skip
    for arch in LM_ARCHS:
        sp = lm["speed"][f"{arch}/{width}"]
        params = next(r["params"] for r in lm["runs"] if r["arch"] == arch and r["width"] == width)
        cells = " | ".join(_fmt(bpb_stats(lm, arch, width, b)) for b in budgets)
        lines.append(f"| {arch} | {params:,} | {sp['tokens_per_s']:,.0f} [{sp['tokens_per_s_min']:,.0f}, "
                     f"{sp['tokens_per_s_max']:,.0f}] | {cells} |")  # fmt: skip
    lines += ["", "![bpb against seconds](crossover.png)", ""]
    if len(lm["sizes"]) > 1:
        b = lm["size_budget"]
        lines += [f"Model size at {b:g} s (GPT widths {', '.join(map(str, sorted(lm['sizes'])))}):", "",
                  "| model | " + " | ".join(f"width {w}" for w in sorted(lm["sizes"])) + " |",
                  "|---" * (len(lm["sizes"]) + 1) + "|"]  # fmt: skip
        for arch in LM_ARCHS:
            cells = []
            for w in sorted(lm["sizes"]):
                params = next(r["params"] for r in lm["runs"] if r["arch"] == arch and r["width"] == w)
                cells.append(f"{_fmt(bpb_stats(lm, arch, w, b))} ({params / 1e3:.0f}k)")
            lines.append(f"| {arch} | " + " | ".join(cells) + " |")
        lines += ["", "![bpb against size](sizes.png)", ""]
    ok = {a: learned("lm", bpb_stats(lm, a, width, last)[0], unigram) for a in LM_ARCHS}
    failed = [a for a in LM_ARCHS if not ok[a]]
    verdict = []
    if failed:
        verdict.append(f"{', '.join(failed)} did not learn ({LEARNED['lm']}; unigram {unigram:.3f} bpb), so "
                       "no comparison is drawn with them.")  # fmt: skip
    if ok["gpt"]:
        rnns = [a for a in LM_ARCHS[:3] if ok[a]]
        points = {a: crossover_point(lm, a) for a in rnns}
        over = [f"{a} from {points[a]} s" for a in rnns if points[a] is not None]
        never = [a for a in rnns if points[a] is None]
        if over:
            verdict.append(f"The GPT overtakes {', '.join(over)}" + (f", and not {', '.join(never)} within "
                           f"{last} s" if never else "") + ".")  # fmt: skip
        elif never:
            verdict.append(f"The GPT does not overtake {', '.join(never)} within {last} s.")
        support = "supports" if rnns and not never else "partly supports" if over else "does not support"
        verdict.append(f"**Verdict:** at this size and these budgets the measurement {support} the claim.")
    else:
        verdict.append("**Verdict:** the GPT did not learn here, so the measurement says nothing about the claim.")
    return lines + [" ".join(verdict), ""]
