"""Quality per wall clock on Tiny Shakespeare (characters), lmlab side by side with nanoGPT.

Three sides, each a fresh process timed from start to exit (imports, data loading, evaluations and
checkpoints included), on the same text:

1. nanoGPT (../shared/peers/nanogpt, run from a scratch folder by bench/nanogpt_peer.py): its CPU recipe
   from its README (4 layers, 4 heads, 128 wide, block 64, batch 12, 2,000 iterations, fp32).
2. lmlab's `shakespeare-char` preset: the same hyper-parameters, `python -m lmlab pretrain`, in fp32 as
   nanoGPT on a CPU (--preset-dtype auto: lmlab's default, bf16 on a CPU with AVX512-BF16 or AMX).
   nanoGPT wall clock / this one's is the speed-up (target >= 1.3x).
3. lmlab's best settings (the preset BEST, or --best PRESET, and --set KEY=VALUE) in nanoGPT's time:
   --max-seconds = nanoGPT's latest wall clock less this side's start-up, evaluation and saving (measured by
   a short probe run, then by each run of this side), so the cosine decay follows the clock and the process
   ends near nanoGPT's time. Does its loss reach --target within nanoGPT's wall clock?

Every side is scored by the full validation loss: the mean loss over every non-overlapping 64-character
window of the held-out text (lmlab.eval.perplexity.evaluate_run; nanoGPT's checkpoint by its own model code,
over the same windows). The two sides read the same characters: nanoGPT's train.bin/val.bin and a text file
that lmlab splits at the same character (val_fraction), checked before any run.

- `--split val` (default): nanoGPT's split, the first 90% of the text to train on, the last 10% to report.
- `--split dev`: tune here. The first 90% only: its first 90% to train on, its last tenth to evaluate on,
  so settings chosen on dev have never seen the val text.

Each of --seeds rounds runs every side once, with seed 1337 + round, in rotating order (ABC, BCA, CAB, ...)
so the machine's drift lands on all sides; each side is reported as the mean [min, max] over rounds.

    python bench/shakespeare.py --data ../shared/data/tinyshakespeare.txt [--split dev] [--seeds 3]
        [--nanogpt PATH] [--best PRESET] [--set KEY=VALUE ...] [--target 1.62] [--max-iters N (smoke runs)]
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nanogpt_peer
import torch
import yaml
from common import environment, print_environment, save_result

from lmlab.data.tokens import prepare_data, prepare_tokenizer
from lmlab.eval.perplexity import evaluate_run
from lmlab.stages.pretrain import DataConfig

PRESET = "shakespeare-char"
BEST = "shakespeare-speedrun"  # the best settings: a preset, tuned on the dev split
UNBOUNDED = 10**9  # max_iters and eval_interval of the timed side: only the clock stops it
SIDES = {"nanogpt": "nanoGPT", "preset": f"lmlab {PRESET}", "best": "lmlab best"}


def split_text(text: str, split: str) -> tuple[str, str]:
    """The text to train on and the text to evaluate on (module docstring)."""
    n = int(len(text) * 0.9)  # nanoGPT's prepare.py
    if split == "dev":
        text = text[:n]
        n = int(len(text) * 0.9)
    return text[:n], text[n:]


def lmlab_corpus(train_text: str, eval_text: str, folder: Path) -> dict:
    """The flags that make lmlab train on train_text and hold out eval_text, the token cache filled beforehand.

    lmlab holds out the last val_fraction of the token stream, which is the file's characters and one <|eos|>;
    the fraction is chosen so that the cut falls between the two texts. The cache is filled here, outside the
    timed runs, as nanoGPT's train.bin is.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path, cache = folder / "shakespeare.txt", folder / "cache"
    path.write_text(train_text + eval_text)
    n_tokens = len(train_text) + len(eval_text) + 1
    val_fraction = (len(eval_text) + 1.5) / n_tokens  # int(n_tokens * val_fraction) = len(eval_text) + 1
    tokenizer = prepare_tokenizer(str(path), "char", DataConfig().bpe_vocab_size, cache)
    data = prepare_data(str(path), tokenizer, val_fraction, cache, progress=False)
    if (len(data.train), len(data.val)) != (len(train_text), len(eval_text) + 1):
        raise RuntimeError(f"lmlab's split is {len(data.train)}/{len(data.val)} tokens, not at the texts' boundary")
    return {"data": str(path), "val_fraction": val_fraction, "cache_dir": str(cache)}


def lmlab_pretrain(flags: list[str], corpus: dict, out: Path, seed: int) -> dict:
    """`python -m lmlab pretrain` in a subprocess, timed from start to exit, and its full validation loss."""
    command = [
        sys.executable, "-m", "lmlab", "pretrain", *flags,
        "--tokenizer", "char", "--data", corpus["data"], "--val-fraction", repr(corpus["val_fraction"]),
        "--cache-dir", corpus["cache_dir"], "--seed", str(seed), "--out", str(out), "--no-progress",
    ]  # fmt: skip
    log = out.with_suffix(".log")
    t = time.perf_counter()
    with open(log, "w") as f:
        done = subprocess.run(command, cwd=out.parent, stdout=f, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - t
    if done.returncode != 0:
        raise RuntimeError(f"lmlab failed (exit {done.returncode}); the end of {log}:\n{nanogpt_peer.tail(log)}")
    ckpt = out / "ckpt" / (out / "ckpt" / "LATEST").read_text().strip()
    trainer = torch.load(ckpt / "trainer.pt", map_location="cpu", weights_only=True)
    m = evaluate_run(out, device="cpu", progress=False)
    return {
        "wall_s": wall,
        "train_s": float(trainer["train_seconds"]),
        "steps": int(trainer["step"]),
        "val_loss": m["val_loss"],
        "tokens": m["tokens"],
        "command": " ".join(command),
    }


def mean_range(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "min": min(values), "max": max(values), "n": len(values)}


def fmt(s: dict, digits: int) -> str:
    """A mean_range as 'mean [min, max]'."""
    return f"{s['mean']:,.{digits}f} [{s['min']:,.{digits}f}, {s['max']:,.{digits}f}]"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="tinyshakespeare.txt")
    ap.add_argument("--split", choices=("val", "dev"), default="val", help="report on val; tune on dev")
    ap.add_argument("--seeds", type=int, default=3, help="rounds, each side once per round with seed 1337+round")
    ap.add_argument("--nanogpt", default=str(nanogpt_peer.default_path()), help="nanoGPT's folder; '' skips it")
    ap.add_argument("--skip-preset", action="store_true")
    ap.add_argument("--preset-dtype", default="float32", help="the preset side's --dtype (nanoGPT on a CPU: fp32)")
    ap.add_argument("--best", default=BEST, metavar="PRESET", help=f"the best settings as a preset (default: {BEST})")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override the best settings")
    ap.add_argument("--skip-best", action="store_true")
    ap.add_argument("--budget", type=float, default=0, help="the best side's seconds (default: nanoGPT's)")
    ap.add_argument("--budget-fraction", type=float, default=0.97,
                    help="without --budget: this fraction of nanoGPT's latest time, a margin for the machine's drift "
                         "and the start-up estimate so the best side ends inside nanoGPT's time")  # fmt: skip
    ap.add_argument("--target", type=float, default=1.62, help="the full val loss the best side should reach")
    ap.add_argument("--max-iters", type=int, default=0, help="smoke runs: iterations of nanoGPT and the preset")
    args = ap.parse_args()

    info = environment("numpy")
    print_environment(info)
    nanogpt = Path(args.nanogpt) if args.nanogpt else None
    if nanogpt and not nanogpt_peer.is_nanogpt(nanogpt):
        print(f"note: no nanoGPT at {nanogpt} (train.py, model.py, configurator.py, config/): its side is skipped")
        nanogpt = None
    sides = [
        s for s, on in (("nanogpt", nanogpt), ("preset", not args.skip_preset), ("best", not args.skip_best)) if on
    ]
    if "best" in sides and not (args.budget or {"nanogpt", "preset"} & set(sides)):
        sys.exit("the best side needs a time budget: --budget SECONDS, or nanoGPT or the preset to time")
    best = {}
    for kv in args.set:
        key, eq, value = kv.partition("=")
        if not eq:
            sys.exit(f"--set {kv}: expected KEY=VALUE")
        best[key] = value
    train_text, eval_text = split_text(Path(args.data).read_text(encoding="utf-8"), args.split)
    print(
        f"split {args.split}: train on {len(train_text):,} characters, evaluate on the next {len(eval_text):,}; "
        f"sides: {', '.join(SIDES[s] for s in sides)}",
        flush=True,
    )
    if "best" in sides:
        print(f"best settings: preset {args.best} with {best}", flush=True)

    with tempfile.TemporaryDirectory(prefix="shakespeare-bench-") as tmp:
        tmp = Path(tmp)
        corpus = lmlab_corpus(train_text, eval_text, tmp / "lmlab")
        if nanogpt:
            nanogpt_peer.setup_workdir(nanogpt, tmp / "nanogpt")
            nanogpt_peer.prepare_data(train_text, eval_text, tmp / "nanogpt")
        preset_flags = ["--preset", PRESET, "--dtype", args.preset_dtype]
        if args.max_iters:
            preset_flags += ["--max-iters", str(args.max_iters), "--lr-decay-iters", str(args.max_iters)]
        (tmp / "best.yaml").write_text(yaml.safe_dump(best))
        best_flags = ["--preset", args.best, "--config", str(tmp / "best.yaml")]
        best_flags += ["--max-iters", str(UNBOUNDED), "--eval-interval", str(UNBOUNDED), "--lr-decay-iters", "0"]

        overhead = 0.0  # the best side's process wall clock less its training steps
        if "best" in sides:
            probe = lmlab_pretrain([*best_flags, "--max-iters", "20"], corpus, tmp / "probe", 1337)
            overhead = probe["wall_s"] - probe["train_s"]
            print(f"probe of the best settings: start-up, evaluation and saving take {overhead:.1f} s", flush=True)

        rounds, latest = [], {}
        for k in range(args.seeds):
            seed = 1337 + k
            result = {"seed": seed, "order": sides[k % len(sides) :] + sides[: k % len(sides)]}
            for side in result["order"]:
                out = tmp / f"{side}-{k}"
                if side == "nanogpt":
                    r = nanogpt_peer.train(tmp / "nanogpt", out, seed, args.max_iters)
                    r.update(nanogpt_peer.full_val_loss(tmp / "nanogpt", out))
                    r["steps"] = r.pop("iter_num")
                elif side == "preset":
                    r = lmlab_pretrain(preset_flags, corpus, out, seed)
                else:
                    budget = args.budget or args.budget_fraction * (latest.get("nanogpt") or latest["preset"])
                    seconds = max(budget - overhead, 1.0)
                    r = lmlab_pretrain([*best_flags, "--max-seconds", f"{seconds:.1f}"], corpus, out, seed)
                    r["budget_s"] = budget
                    overhead = r["wall_s"] - r["train_s"]  # for the next round
                latest[side] = r["wall_s"]
                result[side] = r
                print(
                    f"round {k + 1} seed {seed} {SIDES[side]}: {r['steps']} iterations in {r['wall_s']:.1f} s, "
                    f"full val loss {r['val_loss']:.4f} ({r['tokens']:,} tokens)",
                    flush=True,
                )
                if k == 0:
                    print(f"  {r['command']}", flush=True)
            rounds.append(result)
            tokens = {result[s]["tokens"] for s in sides}
            if len(tokens) > 1:
                raise RuntimeError(f"the sides were evaluated on different numbers of tokens: {tokens}")

    summary = summarize(rounds, sides, args.target)
    save = {
        "environment": info,
        "args": vars(args),
        "split": {"train_chars": len(train_text), "eval_chars": len(eval_text), "val_fraction": corpus["val_fraction"]},
        "best_settings": {"preset": args.best, **best},
        "summary": summary,
        "rounds": rounds,
    }
    if args.max_iters:
        print("(--max-iters: a smoke run, not saved)")
    else:
        print(f"saved {save_result(f'shakespeare_{args.split}', save)}")


def summarize(rounds: list[dict], sides: list[str], target: float) -> dict:
    """Each side's wall clock and loss as mean [min, max] over rounds, the speed-up, and the best side's verdict."""
    summary = {}
    print(f"\n{'side':22} {'wall clock s':>24} {'full val loss':>27} {'steps':>8}")
    for side in sides:
        walls, losses = [r[side]["wall_s"] for r in rounds], [r[side]["val_loss"] for r in rounds]
        summary[side] = {"wall_s": mean_range(walls), "val_loss": mean_range(losses)}
        steps = statistics.fmean(r[side]["steps"] for r in rounds)
        print(f"{SIDES[side]:22} {fmt(summary[side]['wall_s'], 1):>24} {fmt(summary[side]['val_loss'], 4):>27} "
              f"{steps:8.0f}")  # fmt: skip
    if {"nanogpt", "preset"} <= set(sides):
        per_round = [r["nanogpt"]["wall_s"] / r["preset"]["wall_s"] for r in rounds]
        ratio = summary["nanogpt"]["wall_s"]["mean"] / summary["preset"]["wall_s"]["mean"]
        summary["speedup"] = {"ratio_of_means": ratio, "per_round": mean_range(per_round), "target": 1.3}
        print(
            f"nanoGPT / lmlab {PRESET} wall clock, same iterations: {ratio:.2f}x "
            f"(per round {fmt(summary['speedup']['per_round'], 2)}x; target >= 1.3x: "
            f"{'met' if ratio >= 1.3 else 'not met'})"
        )
    if "best" in sides:
        reference = "nanogpt" if "nanogpt" in sides else None
        loss, wall = summary["best"]["val_loss"]["mean"], summary["best"]["wall_s"]["mean"]
        limit = (
            summary[reference]["wall_s"]["mean"]
            if reference
            else statistics.fmean(r["best"]["budget_s"] for r in rounds)
        )
        rounds_met = sum(
            r["best"]["val_loss"] <= target
            and r["best"]["wall_s"] <= (r[reference]["wall_s"] if reference else r["best"]["budget_s"])
            for r in rounds
        )
        reached = loss <= target and wall <= limit
        summary["best"].update(target=target, reached=reached, rounds_reaching=rounds_met)
        print(
            f"lmlab best: full val loss {loss:.4f} (target {target}) in {wall:.1f} s "
            f"({'nanoGPT' if reference else 'the budget'}: {limit:.1f} s): "
            f"{'reached' if reached else 'not reached'}; {rounds_met} of {len(rounds)} rounds reach it in time"
        )
    return summary


if __name__ == "__main__":
    main()
