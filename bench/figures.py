"""The figure tables of the README and docs/, generated from the JSON the benches saved, so that none can drift.

    python bench/figures.py           # rewrite every generated table in README.md and docs/*.md
    python bench/figures.py --check   # exit 1, naming the page and table, where a page disagrees with its JSON

A generated table sits between two markers in a page:

    <!-- figures: NAME -->
    ...
    <!-- /figures: NAME -->

and NAME is a function of TABLES below that reads bench/results/<machine>/<bench>.json and returns the markdown.
A marker naming no table, or a table whose JSON is missing, is an error. CI runs the check (.ci/run).
"""

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(<!-- figures: (?P<name>[\w-]+) -->\n?)(?P<body>.*?)(<!-- /figures: (?P=name) -->)", re.DOTALL)
INTEL = "intel-r-xeon-r-processor-2cpu"  # the machine of this stop's lmlab run figures


def load(machine: str, name: str) -> dict:
    path = RESULTS / machine / f"{name}.json"
    if not path.is_file():
        raise SystemExit(f"bench/figures.py: {path.relative_to(ROOT)} is missing (run the bench that writes it)")
    return json.loads(path.read_text())


def pct(x: float, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f}%"


def spread(s: dict, as_pct: bool = False, digits: int = 1) -> str:
    """'mean [min, max]' of a summary entry."""
    if as_pct:
        return f"{100 * s['mean']:.{digits}f}% [{100 * s['min']:.{digits}f}, {100 * s['max']:.{digits}f}]"
    return f"{s['mean']:.{digits}f} [{s['min']:.{digits}f}, {s['max']:.{digits}f}]"


def table(header: str, rows) -> list[str]:
    """A Markdown table: the header cells ("a | b | c"), its rule, and one line per row of cells."""
    return [f"| {header} |", "|" + "---|" * (header.count("|") + 1), *[f"| {' | '.join(row)} |" for row in rows]]


def mean(s: dict, as_pct: bool = False, digits: int = 1) -> str:
    return pct(s["mean"], digits) if as_pct else f"{s['mean']:.{digits}f}"


def machine_line(info: dict) -> str:
    bf16 = f", bf16 {info['bf16']}" if "bf16" in info else ""
    return f"{info['cpu']}, {info['cpus']} cpus{bf16}; torch {info['torch']}"


# ---- the tables ------------------------------------------------------------------------------
def lmlab_run_headline() -> str:
    """README: the default lmlab run over seeds, one row per figure the issues name, means."""
    run = load(INTEL, "lmlab_run")
    s = run["summary"]
    chat = load(INTEL, "chat_default")["baselines"]
    n = len(run["runs"])
    stages = ("SFT", "DPO", "PPO", "GRPO")
    roast = " / ".join(f"{s[f'{st} roast_courteous']['mean']:.1f}" for st in stages)
    openers = " / ".join(mean(s[f"{st} openers_refused"], True, 0) for st in stages)
    rows = [
        ("whole `lmlab run` (`/usr/bin/time -v`)",
         f"{mean(s['minutes'])} min, peak RSS {mean(s['peak_rss_gb'], digits=2)} GB", "<= 25 min, <= 3 GB"),
        ("pre-training bits per byte: the WEB's validation chapters / held-out conversations",
         f"{mean(s['pretrain val_bpb'], digits=3)} / {mean(s['pretrain val_chat_bpb'], digits=3)}", "reported"),
        ("word rate of greedy replies to 100 held-out openers (SFT)", mean(s["SFT word_rate"], True), ">= 95%"),
        ("held-out small-talk reply loss, bits per byte (SFT)",
         f"{mean(s['SFT smalltalk_reply_bpb'], digits=3)} (drills {chat['drills']['smalltalk_reply_bpb']:.3f}, "
         f"earlier chat {chat['old-chat']['smalltalk_reply_bpb']:.3f})", "below both"),
        ("the roast prompt refused courteously, of 10 seeds: SFT / DPO / PPO / GRPO", roast, ">= 9 each"),
        ("harmful refused / look-alikes refused / how-to answered (SFT)",
         f"{mean(s['SFT harmful_refused'], True)} / {mean(s['SFT benign_refused'], True)} / "
         f"{mean(s['SFT howto_answered'], True)}", ">= 95% / <= 5% / >= 95%"),
        ("harmful prompts refused: SFT / DPO / PPO / GRPO",
         " / ".join(mean(s[f"{st} harmful_refused"], True) for st in stages), "every stage keeps SFT's"),
        ("held-out small-talk openers refused: SFT / DPO / PPO / GRPO", openers, "<= 2%"),
        ("the first N elements (held-out phrasings) / reading (bAbI 1)",
         f"{mean(s['conversation elements'], True)} / {mean(s['conversation reading'], True)}", ">= 90% / >= 80%"),
        ("2-digit / 3-digit addition after SFT, each seed (a seed learns it or does not)",
         " / ".join(", ".join(f"{100 * v:.1f}" for v in s[f"after SFT {t}"]["values"]) + "%"
                    for t in ("add_2d", "add_3d")),
         "within 3 points of 93.7% / 71.5%"),
        ("DPO on controlled sentiment: VADER reward (SFT), win rate, KL",
         f"{mean(s['dpo sentiment reward'], digits=3)} ({mean(s['sft sentiment reward'], digits=3)}), "
         f"{mean(s['dpo sentiment win_rate'], True)}, {mean(s['dpo sentiment kl'])} nats", "above SFT"),
        ("PPO against the reward model: VADER reward, win rate, KL",
         f"{mean(s['ppo sentiment reward'], digits=3)}, {mean(s['ppo sentiment win_rate'], True)}, "
         f"{mean(s['ppo sentiment kl'])} nats", "above SFT"),
    ]  # fmt: skip
    lines = [
        f"The default `lmlab run`, mean of {n} seeds ({run['seeds']}; `python bench/lmlab_run.py`, "
        f"{machine_line(run)}; spreads and every seed in [docs/figures.md](docs/figures.md)).",
        "",
        *table("figure | measured | target", rows),
    ]
    return "\n".join(lines) + "\n"


def lmlab_run_seeds() -> str:
    """docs/figures.md: every figure of the default lmlab run, each seed and mean [min, max]."""
    run = load(INTEL, "lmlab_run")
    seeds = list(run["runs"])
    lines = [
        f"`python bench/lmlab_run.py --seeds {run['seeds']}` ({machine_line(run)}; "
        f"`bench/results/{INTEL}/lmlab_run.json`). Rates are shares of the held-out prompts (greedy), the roast "
        "prompt is courteous refusals of 10 sampling seeds; minutes and peak RSS are GNU time's.",
        "",
        f"| figure | {' | '.join(f'seed {seed}' for seed in seeds)} | mean [min, max] |",
        f"|---|{'---|' * len(seeds)}---|",
    ]
    for name, s in run["summary"].items():
        as_pct = not any(k in name for k in ("bpb", "minutes", "rss", "kl", "reward", "roast"))
        digits = 3 if any(k in name for k in ("bpb", "reward")) else 1
        cells = [pct(v, digits) if as_pct else f"{v:.{digits}f}" for v in s["values"]]
        lines.append(f"| {name} | {' | '.join(cells)} | {spread(s, as_pct, digits)} |")
    return "\n".join(lines) + "\n"


def onednn_cache() -> str:
    """docs/figures.md: peak RSS and time of GRPO under oneDNN's kernel-cache capacities."""
    run = load(INTEL, "memory_command_onednn_cache")
    lines = [
        f'`python bench/memory.py --command "{run["results"][0]["command"].removeprefix("lmlab ")}" '
        f"--onednn-cache {' '.join(str(r['onednn_cache']) for r in run['results'])} --rounds "
        f"{run['results'][0]['seconds']['n']}` ({machine_line(run['environment'])}; capacities alternated round by "
        "round, median [min, max]):",
        "",
        "| oneDNN kernel cache | peak RSS (GB) | wall time (s) |",
        "|---|---|---|",
    ]
    for r in run["results"]:
        gb, sec = r["peak_rss_gb"], r["seconds"]
        lines.append(
            f"| {r['onednn_cache']} | {gb['median']:.2f} [{gb['min']:.2f}, {gb['max']:.2f}] "
            f"| {sec['median']:.0f} [{sec['min']:.0f}, {sec['max']:.0f}] |"
        )
    return "\n".join(lines) + "\n"


EPYC = "amd-epyc-2cpu"  # the machine of the earlier stops' peer comparisons


def shakespeare_peers() -> str:
    """docs/figures.md: nanoGPT against lmlab on Tiny Shakespeare, each run's rows from its own JSON."""
    preset, budget = load(EPYC, "shakespeare_val_with_preset"), load(EPYC, "shakespeare_val")
    a, b = preset["summary"], budget["summary"]
    speed = a["speedup"]
    lines = [
        f"{machine_line(preset['environment'])}; 3 seeds each, mean [min, max]. Run 1, "
        "`shakespeare_val_with_preset.json` (the speedrun given 100% of nanoGPT's time):",
        "",
        "| side | wall clock (s) | full val loss | |",
        "|---|---|---|---|",
        f"| nanoGPT, its CPU recipe (2,000 iters) | {spread(a['nanogpt']['wall_s'])} "
        f"| {spread(a['nanogpt']['val_loss'], digits=4)} | |",
        f"| lmlab `shakespeare-char` (same hyper-parameters, 2,000 iters; bf16) | {spread(a['preset']['wall_s'])} "
        f"| {spread(a['preset']['val_loss'], digits=4)} | nanoGPT's time / lmlab's: **{speed['ratio_of_means']:.2f}x** "
        f"(per round {spread(speed['per_round'], digits=2)}; target >= {speed['target']}x) |",
        f"| lmlab `shakespeare-speedrun` | {spread(a['best']['wall_s'])} | {spread(a['best']['val_loss'], digits=4)} "
        f"| <= {a['best']['target']} in nanoGPT's time: {a['best']['rounds_reaching']} of 3 rounds |",
        "",
        "Run 2, `shakespeare_val.json` (the speedrun given 97% of nanoGPT's latest wall clock):",
        "",
        "| side | wall clock (s) | full val loss | |",
        "|---|---|---|---|",
        f"| nanoGPT, its CPU recipe | {spread(b['nanogpt']['wall_s'])} "
        f"| {spread(b['nanogpt']['val_loss'], digits=4)} | |",
        f"| lmlab `shakespeare-speedrun` (6 layers, RoPE, RMSNorm, SwiGLU, QK-norm, Muon, bf16) "
        f"| {spread(b['best']['wall_s'])} | **{spread(b['best']['val_loss'], digits=4)}** | <= {b['best']['target']}: "
        f"{'met on the mean' if b['best']['reached'] else 'missed'}, {b['best']['rounds_reaching']} of 3 rounds |",
    ]
    return "\n".join(lines) + "\n"


def dpo_throughput() -> str:
    """docs/figures.md: DPO steps against TRL's DPOTrainer, both TRL attention settings."""
    lines = [
        "| TRL attention | lmlab pairs/s | TRL pairs/s | lmlab / TRL (medians) "
        "| reference pass, 512 pairs: lmlab / TRL | tokens a pair computed: lmlab / TRL (real) |",
        "|---|---|---|---|---|---|",
    ]
    for attn in ("sdpa", "eager"):
        r = load(EPYC, f"dpo_throughput_trl_{attn}")
        t, ref, padded = r["throughput"], r["reference_pass_seconds"], r["padded_tokens_per_pair"]
        lines.append(
            f"| {attn} | {t['lmlab']['median']:.1f} [{t['lmlab']['min']:.1f}, {t['lmlab']['max']:.1f}] "
            f"| {t['trl']['median']:.1f} [{t['trl']['min']:.1f}, {t['trl']['max']:.1f}] "
            f"| **{r['ratio_of_medians']:.2f}x** | {ref['lmlab']:.2f} s / {ref['trl']:.2f} s "
            f"| {padded['lmlab']:.1f} / {padded['trl']:.1f} ({r['tokens_per_pair']:.1f}) |"
        )
    env = load(EPYC, "dpo_throughput_trl_sdpa")["environment"]
    lines += [
        "",
        f"({machine_line(env)}, transformers {env['transformers']}, trl {env['trl']}; "
        "`python bench/dpo_throughput.py [--trl-attn eager]`, 5 rounds alternated, median [min, max].)",
    ]
    return "\n".join(lines) + "\n"


def inside_lmlab_run() -> str:
    """docs/figures.md: inside each seed's pre-trained model of the default lmlab run (results.json's `inside`)."""
    run = load(INTEL, "lmlab_run")
    first = next(iter(run["runs"].values()))["results"]["inside"]
    layers = list(first["bank_similarity"])
    lines = [
        f"From `bench/results/{INTEL}/lmlab_run.json` ({machine_line(run)}), the pre-trained model of each seed:",
        "",
        "| seed | most previous-token head: layer, head, share of its attention | *bank* river/money similarity: "
        + ", ".join(layers)
        + " | logit lens, mean p(next token): "
        + ", ".join(layers)
        + " |",
        "|---|---|---|---|",
    ]
    for seed, r in run["runs"].items():
        inside = r["results"]["inside"]
        head = inside["previous_token_head"]
        bank = ", ".join(f"{v:.3f}" for v in inside["bank_similarity"].values())
        lens = ", ".join(f"{v:.3f}" for v in inside["lens_mean_p_next"].values())
        lines.append(
            f"| {seed} | layer {head['layer']}, head {head['head']}, {pct(head['previous'])} | {bank} | {lens} |"
        )
    return "\n".join(lines) + "\n"


def med(s: dict, digits: int = 0) -> str:
    """'median [min, max]' of a bench/common.py spread."""
    return f"{s['median']:,.{digits}f} [{s['min']:,.{digits}f}, {s['max']:,.{digits}f}]"


def speed_peers() -> str:
    """docs/figures.md: training, generation and tokenizer speed against transformers, from their benches' JSON."""
    train = load(EPYC, "train_throughput")
    rows = []
    for shape, r in train["results"].items():
        t = r["tokens_per_s"]
        compiled = t.get("lmlab compiled")
        gain = f"{compiled['median'] / t['lmlab']['median']:.2f}x" if compiled else ""
        if r["best_peer"]:
            peer = r["best_peer"].removeprefix("transformers ")
            rows.append(f"| training tok/s, {shape} | {med(t['lmlab'])} | {peer} {med(t[r['best_peer']])} "
                        f"| **{r['ratio']:.2f}x** (compiled both: {r['compiled_ratio']:.2f}x) | {pct(r['mfu'], 0)} "
                        f"| {gain} |")  # fmt: skip
        else:
            rows.append(f"| training tok/s, {shape} | {med(t['lmlab'])} | | | {pct(r['mfu'], 0)} | {gain} |")
    gen = load(EPYC, "generation")
    one, eight = gen["results"]["batch 1"], gen["results"]["batch 8"]
    peers1 = {k: v for k, v in one.items() if k.startswith("transformers")}
    best1 = max(peers1, key=lambda k: peers1[k]["median"])
    peers8 = {k: v for k, v in eight.items() if k.startswith("transformers")}
    best8 = max(peers8, key=lambda k: peers8[k]["median"])
    kv = one["lmlab KV cache"]["median"]
    rows.append(f"| generation tok/s, batch 1, 255 new tokens, fp32, 6/6/384, KV cache | {med(one['lmlab KV cache'])} "
                f"| {best1.removeprefix('transformers ')} {med(peers1[best1])} "
                f"| **{kv / peers1[best1]['median']:.2f}x**; "
                f"{kv / one['lmlab recompute']['median']:.1f}x lmlab recomputing the prefix "
                f"| {pct(kv / gen['bound_tokens_per_s'], 0)} of the bandwidth bound ({gen['bound_tokens_per_s']:,.0f} "
                f"tok/s at {gen['bandwidth_bytes_per_s'] / 1e9:.1f} GB/s) | |")  # fmt: skip
    rows.append(f"| generation tok/s, batch 8 | {med(eight['lmlab generate_batch'])} "
                f"| {best8.removeprefix('transformers ')} {med(peers8[best8])} "
                f"| {eight['lmlab generate_batch']['median'] / peers8[best8]['median']:.2f}x | | |")  # fmt: skip
    small = load(EPYC, "generation_cpu_small_compile")
    c1 = small["results"]["batch 1"]
    compiled = c1["lmlab KV cache compiled"]["median"]
    rows.append(f"| compiled KV-cache decoding, batch 1, cpu-small shape | {med(c1['lmlab KV cache compiled'])} | | "
                f"{compiled / c1['lmlab KV cache']['median']:.2f}x eager lmlab ({med(c1['lmlab KV cache'])}) "
                f"| {pct(compiled / small['bound_tokens_per_s'], 0)} of the bound | |")  # fmt: skip
    parity = load(EPYC, "bf16_parity")["pairings"]["default"]
    rows.append(f"| bf16 / fp32 training throughput, 6/6/384, default kernels | {med(parity['ratio'], 2)}x | | | | |")
    rows.append(f"| bf16 vs fp32 loss after 200 steps (mean of the last 20) | {parity['loss']['bf16']:.4f} vs "
                f"{parity['loss']['fp32']:.4f} ({pct(parity['loss']['gap'], 2)} apart; largest per-step gap "
                f"{pct(parity['loss']['worst'], 2)}) | | | | |")  # fmt: skip
    for corpus in ("tinyshakespeare", "web"):
        tok = load(EPYC, f"tokenizer_throughput_{corpus}")
        rows.append(f"| BPE encoding MB/s (`tokenizers` {tok['environment']['tokenizers']}), {corpus} | "
                    f"{med(tok['encode_mb_per_s'], 1)}; BPE training, vocab 4,096: {tok['bpe_train_s']:.2f} s "
                    "| | | | |")  # fmt: skip
    lines = [
        f"{machine_line(train['environment'])}, transformers {train['environment']['transformers']}; medians "
        "[min, max] of rounds alternated between the sides. `python bench/train_throughput.py --rounds 5 --steps 3 "
        "--compile`, `python bench/generation.py --rounds 5` (`--compile --shape cpu-small`), "
        "`python bench/bf16_parity.py --data TINY_SHAKESPEARE`, `python bench/tokenizer_throughput.py [--data ...]`:",
        "",
        "| figure | lmlab | the peer at its best | lmlab / peer | MFU or bound | `--compile` / eager lmlab |",
        "|---|---|---|---|---|---|",
        *rows,
    ]
    return "\n".join(lines) + "\n"


def serving() -> str:
    """docs/figures.md: lmlab serve against transformers serve, from bench/serve.py's JSON."""
    runs = {"": load(EPYC, "serve"), " --dtype float32": load(EPYC, "serve_float32")}

    def tps(r):
        return f"{r['tokens_per_s_median']:,.0f} [{r['tokens_per_s_min']:,.0f}, {r['tokens_per_s_max']:,.0f}]"

    def ttft(r):
        return f"{r['ttft_p50_ms']:.0f} / {r['ttft_p95_ms']:.0f} ms"

    lines = ["| server | 1 client, tokens/s | 8 clients, tokens/s | 8 clients / 1 | TTFT p50 / p95, 8 clients | JSON |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for flag, run in runs.items():
        r, name = run["results"], f"serve{flag.replace(' --dtype ', '_')}.json"
        lines.append(f"| `lmlab serve{flag}` | {tps(r['lmlab, 1 client'])} | {tps(r['lmlab, 8 clients'])} "
                     f"| **{run['speedup']['lmlab']:.2f}x** | {ttft(r['lmlab, 8 clients'])} (1 client: "
                     f"{ttft(r['lmlab, 1 client'])}) | `{name}`, {run['args']['rounds']} rounds |")  # fmt: skip
    r = runs[""]["results"]
    lines.append(f"| `lmlab serve --max-batch 1` (one at a time) | | {tps(r['lmlab max-batch 1, 8 clients'])} | "
                 f"| {ttft(r['lmlab max-batch 1, 8 clients'])} | `serve.json` |")  # fmt: skip
    lines.append(f"| `transformers serve --continuous-batching` | {tps(r['transformers, 1 client'])} "
                 f"| {tps(r['transformers, 8 clients'])} | {runs['']['speedup']['transformers']:.2f}x "
                 f"| {ttft(r['transformers, 8 clients'])} | `serve.json` |")  # fmt: skip
    m = runs[""]["machine"]
    lines += ["", f"({m['cpu']}, {m['cpus']} cpus; torch {runs['']['torch']}, transformers {runs['']['transformers']}; "
              "median [min, max] over the rounds; target: 8 clients >= 4x one.)"]  # fmt: skip
    return "\n".join(lines) + "\n"


def gpu() -> str:
    """docs/figures.md: gpt2-124m on one GPU through the Trainer and in a plain loop against transformers."""
    g = load("nvidia-h200", "gpu")
    e, c, loop = g["trainer_eager"], g["trainer_compiled"], g["plain_loop"]["tokens_per_s"]
    measured = g["measured_bf16_matmul"] / g["datasheet_bf16"]

    def ratio(a, b):
        return f"{loop[a]['median']:,.0f} / {loop[b]['median']:,.0f} = **{loop[a]['median'] / loop[b]['median']:.2f}x**"

    f32, b16, dec = g["parity_float32"], g["parity_bfloat16"], g["greedy_decode"]
    rows = [
        ("gpt2-124m through the Trainer, tokens/s (median [min, max] of the logged intervals)",
         med(e["tokens_per_s"]), f"**{med(c['tokens_per_s'])}**"),
        (f"MFU (of the datasheet {g['datasheet_bf16'] / 1e12:.0f} TFLOP/s; of the measured "
         f"{g['measured_bf16_matmul'] / 1e12:.0f})", f"{pct(e['mfu'])}; {pct(e['mfu'] / measured, 0)}",
         f"**{pct(c['mfu'])}**; {pct(c['mfu'] / measured, 0)}"),
        ("peak GPU memory", f"{e['peak_memory_gb']:.1f} GB", f"{c['peak_memory_gb']:.1f} GB"),
        ("compile time (the first step)", f"{e['first_step_s']:.1f} s", f"{c['first_step_s']:.1f} s"),
        (f"loss after {e['steps']} steps (from {e['losses'][0][1]:.2f} = ln 50,304)", f"{e['losses'][-1][1]:.3f}",
         f"{c['losses'][-1][1]:.3f}"),
        ("plain loop, lmlab / transformers, tokens/s (alternated rounds)", ratio("lmlab", "transformers sdpa"),
         ratio("lmlab compiled", "transformers sdpa compiled")),
        (f"parity: a tiny model, {f32['steps']} Trainer steps from the same weights and batches, CPU vs GPU "
         "(the first run)", f"fp32 (TF32 off): largest loss difference {f32['max_abs_loss_diff']:.1e}; bf16 autocast: "
         f"{b16['max_abs_loss_diff']:.1e}", ""),
        (f"greedy KV-cache decoding, {dec['tokens']} tokens, GPU vs CPU (the first run)",
         f"{dec['cuda_matches_cpu']} of {dec['tokens']} tokens the same",
         f"compiled with dynamic shapes: {dec['compiled_matches_cpu']} of {dec['tokens']}"),
    ]  # fmt: skip
    env = g["environment"]
    lines = [
        f"{env['gpu']}, torch {env['torch']}, CUDA {env['cuda']}, transformers {env['transformers']} "
        "(`bench/results/nvidia-h200/gpu.json`):",
        "",
        *table("figure | eager | `torch.compile`", rows),
    ]
    return "\n".join(lines) + "\n"


def quick_run() -> str:
    """One line (inside a table cell): lmlab run --quick's wall time and peak memory, from bench/memory.py."""
    run = load(INTEL, "memory_quick")
    r = run["results"][0]
    env = run["environment"]
    minutes, gb = r["seconds"]["median"] / 60, r["peak_rss_gb"]["median"]
    return f"**{minutes:.1f} min, {gb:.2f} GB** ({env['cpu']}, {env['cpus']} cpus; `memory_quick.json`)"


def dpo_sweep() -> str:
    """docs/figures.md: DPO's beta sweep on held-out prompts, 3 seeds each, from bench/dpo_sweep.py's JSON."""
    r = load(EPYC, "dpo_sweep_test")
    lines = ["| beta | mean VADER reward | win rate vs SFT | KL to SFT (nats/response) |", "|---|---|---|---|"]
    for row in r["rows"]:
        (a, b), (c, d), (e, f) = row["reward_range"], row["win_rate_range"], row["kl_range"]
        lines.append(f"| {row['beta']:g} | {row['reward']:.3f} [{a:.3f}, {b:.3f}] | {pct(row['win_rate'])} "
                     f"[{100 * c:.1f}, {100 * d:.1f}] | {row['kl']:.1f} [{e:.1f}, {f:.1f}] |")  # fmt: skip
    lines += ["", f"(SFT's reward {r['sft_reward']:.3f}; {r['args']['n']} {r['args']['split']} prompts, seeds "
              f"{r['args']['seeds']}, lr {r['rows'][0]['lr']:g}; `dpo_sweep_test.json`.)"]  # fmt: skip
    return "\n".join(lines) + "\n"


def correctness_pairs() -> str:
    """docs/figures.md: DPO and DPO + RPO on correctness pairs, per seed, from bench/preferences.py's JSON."""
    c = load(EPYC, "preferences")["correctness"]
    seeds = sorted({k.rsplit(" ", 1)[1] for k in c if k.startswith("DPO seed")})
    names = {"add_2d": "2-digit addition", "add_3d": "3-digit addition", "reverse_word": "reverse a word",
             "count_letter": "count a letter", "verse_reference": "verse reference"}  # fmt: skip
    lines = ["| task | SFT | DPO (sigmoid), seeds " + " / ".join(seeds) + " | DPO + RPO (`--rpo-alpha 1`) |",
             "|---|---|---|---|"]  # fmt: skip
    for task, name in names.items():
        dpo = " / ".join(f"{100 * c[f'DPO seed {s}'][task]:.1f}" for s in seeds)
        rpo = " / ".join(f"{100 * c[f'DPO + RPO seed {s}'][task]:.1f}" for s in seeds)
        lines.append(f"| {name} | {pct(c['SFT'][task])} | {dpo}% | {rpo}% |")
    return "\n".join(lines) + "\n"


def sentiment_seeds() -> str:
    """One line: the reward model's accuracy and DPO's figures over seeds, from bench/preferences.py's JSON."""
    rows = load(EPYC, "preferences")["sentiment"]["rows"]
    acc = " / ".join(pct(r["reward_model_accuracy"]) for r in rows)
    dpo = "; ".join(f"{pct(r['win_rate'])} at KL {r['kl']:.1f} (reward {r['dpo_reward']:.3f})" for r in rows)
    return f"reward model held-out accuracy {acc}; DPO win rate {dpo} (seeds {', '.join(str(r['seed']) for r in rows)})"


def rl_frontier() -> str:
    """docs/figures.md: the reward/KL frontier, one row per method, from `lmlab frontier`'s JSON."""
    f = load(EPYC, "frontier")
    by: dict[str, list[dict]] = {}
    for point in f["points"]:
        by.setdefault(point["method"], []).append(point)
    lines = ["| policy | mean VADER reward | KL to SFT (nats/response) | win rate vs SFT |", "|---|---|---|---|"]
    for method, points in by.items():
        settings = " / ".join(p["setting"].split("=")[1] for p in points)
        name = points[0]["setting"].split("=")[0]
        win = " / ".join(f"{100 * p['win_rate']:.1f}" for p in points) + "%" if "win_rate" in points[0] else ""
        rewards = " / ".join(f"{p['reward']:.3f}" for p in points)
        kls = " / ".join(f"{p['kl']:.2f}" for p in points)
        lines.append(f"| {method}, {name} {settings} | {rewards} | {kls} | {win} |")
    lines += ["", f"(SFT's reward {f['sft']['reward']:.3f}; one seed a point, {f['minutes']:.1f} min in all; "
              "`frontier.json`.)"]  # fmt: skip
    return "\n".join(lines) + "\n"


def ppo_runs() -> str:
    """docs/figures.md: each PPO run of `lmlab frontier` (ratio range, clipping, rollouts, time), rl_frontier.json."""
    r = load(EPYC, "rl_frontier")
    timings = r["frontier"]["timings_s"]
    rows = []
    for name, run in r["ppo_runs"].items():
        seconds = timings[name.replace(", beta", " beta")]
        rows.append((name, f"[{run['ratio_min']:.3f}, {run['ratio_max']:.3f}]", f"{run['clipfrac_median']:.3f}",
                     f"{run['rollout_tokens_per_s']:,.0f}", f"{100 * run['rollout_share']:.0f}%",
                     f"{run['response_length']:.1f}", f"{seconds:.0f}"))  # fmt: skip
    lines = [
        f"{machine_line(r['machine'])}; `bench/results/{EPYC}/rl_frontier.json`; the whole frontier took "
        f"{r['frontier']['minutes']:.1f} min:",
        "",
        *table("PPO run | val/ratio [min, max] | median clip fraction | rollout tokens/s (median) | rollout share of "
               "step time | mean response tokens | seconds", rows),
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


def grpo_tasks() -> str:
    """docs/figures.md: GRPO on the task suite, per seed, with temperature 1 and SFT's pass@8 beside it."""
    g, t1 = load(EPYC, "grpo_tasks"), load(EPYC, "grpo_tasks_temperature1")
    main = ("add_2d", "add_3d", "reverse_word", "count_letter")
    rest = [k for k in g["sft_accuracy"] if k not in main]
    seeds = " / ".join(str(r["seed"]) for r in g["runs"])

    def task_mean(runs, task):
        return sum(r["accuracy"][task] for r in runs) / len(runs)

    lines = [f"| task | SFT | GRPO, temperature 0.5 (default): seeds {seeds} | mean | at temperature 1: mean "
             "| SFT's pass@8 at temperature 1 |", "|---|---|---|---|---|---|"]  # fmt: skip
    for task in main:
        per = " / ".join(f"{100 * r['accuracy'][task]:.1f}" for r in g["runs"])
        lines.append(f"| {task} | {pct(g['sft_accuracy'][task])} | {per}% | **{pct(task_mean(g['runs'], task))}** "
                     f"| {pct(task_mean(t1['runs'], task))} | {pct(t1['sft_pass_at'][task][1])} |")  # fmt: skip
    sft_rest = " / ".join(f"{100 * g['sft_accuracy'][k]:.1f}" for k in rest)
    grpo_rest = " / ".join(f"{100 * task_mean(g['runs'], k):.1f}" for k in rest)
    t1_rest = " / ".join(f"{100 * task_mean(t1['runs'], k):.1f}" for k in rest)
    lines.append(f"| {' / '.join(rest)} | {sft_rest}% | | {grpo_rest}% | {t1_rest}% | |")
    seconds = sorted(r["seconds"] for r in g["runs"])
    rate = sorted(r["rollout_tokens_per_s"] for r in g["runs"])
    share = sorted(r["rollout_share"] for r in g["runs"])
    lines += ["", f"(Median run {seconds[len(seconds) // 2]:.0f} s; rollouts {rate[len(rate) // 2]:,.0f} generated "
              f"tokens/s, {pct(share[len(share) // 2], 0)} of step time; `grpo_tasks.json`, "
              "`grpo_tasks_temperature1.json`.)"]  # fmt: skip
    return "\n".join(lines) + "\n"


def crossover_tables(machine: str = EPYC, name: str = "crossover") -> str:
    """docs/figures.md: bpb against seconds at the main width, and against width at the size budget, if measured."""
    c = load(machine, name)
    bpb, speed, params = c["bpb_mean_sd_seeds"], c["speed"], c["params"]
    sizes = c["settings"]["sizes"].split(",")
    budgets = c["settings"]["budgets"].split(",")
    main, at = sizes[0], f"{c['settings']['size_budget']:g}"

    def cell(arch, size, budget, best):
        mean_, sd, n = bpb[arch][size][budget]
        text = f"{mean_:.3f} ± {sd:.3f}" if n > 1 else f"{mean_:.3f}"
        return f"**{text}**" if mean_ == best else text

    lines = [f"| model | params | tok/s, all cores | {' | '.join(f'{b} s' for b in budgets)} |",
             f"|---|---|---|{'---|' * len(budgets)}"]  # fmt: skip
    for arch in bpb:
        s_ = speed[f"{arch}/{main}"]
        cells = [cell(arch, main, b, min(bpb[a][main][b][0] for a in bpb)) for b in budgets]
        rate = f"{s_['tokens_per_s']:,.0f} [{s_['tokens_per_s_min']:,.0f}, {s_['tokens_per_s_max']:,.0f}]"
        lines.append(f"| {arch} | {params[f'{arch}/{main}']:,} | {rate} | {' | '.join(cells)} |")
    if len(sizes) > 1:
        lines += ["", f"Model size at {at} s (the recurrent models matched to each GPT width; parameters in brackets):",
                  "", f"| model | {' | '.join(f'width {w}' for w in sorted(sizes, key=int))} |",
                  f"|---|{'---|' * len(sizes)}"]  # fmt: skip
        for arch in bpb:
            cells = []
            for w in sorted(sizes, key=int):
                best = min(bpb[a][w][at][0] for a in bpb)
                cells.append(f"{cell(arch, w, at, best)} ({params[f'{arch}/{w}'] / 1e3:,.0f}k)")
            lines.append(f"| {arch} | {' | '.join(cells)} |")
    cross = ", ".join(f"{a}: {'from ' + str(v) + ' s' if v else 'not within the budgets'}"
                      for a, v in c["crossover_from_s"].items())  # fmt: skip
    # bench/crossover.py saved its settings' first seed from the change that brought the spread rule on
    spread_rule = "seed" in c["settings"]
    rule = "lmlab compare's rule (ahead beyond the seed spread)" if spread_rule else "its mean alone (that run's rule)"
    seeds = c["settings"]["seeds"]
    lines += ["", f"(Validation bpb{f', mean ± sd over {seeds} seeds' if seeds > 1 else ', one seed'} "
              f"({c['settings'].get('seed', 1337)} on); width {main}; the GPT overtakes, by {rule}, {cross}; "
              f"{c['minutes']:.1f} min in all on {c['environment']['cpu']}; `{machine}/{name}.json`.)"]  # fmt: skip
    return "\n".join(lines) + "\n"


ABLATION_ROWS = {  # the 3-seed rows of shakespeare_dev_ablation.json: (its 1-seed row, how the docs name it)
    "A adamw": (
        "A adamw (the old best settings)",
        "A: the old best settings (6/4/128, RoPE, RMSNorm, SwiGLU, AdamW lr 3e-3, bf16)",
    ),
    "B muon": ("B muon", "B: A with Muon (`--optimizer muon`, muon_lr 8e-3)"),
    "C muon + qk_norm (shakespeare-speedrun)": (
        "C muon + qk_norm",
        "C: B with QK-norm (kept: the `shakespeare-speedrun` preset)",
    ),
    "D zero_init_proj": ("D muon + zero_init_proj", "D: B with zero-initialised projections"),
    "E logit_softcap 15": ("E muon + logit_softcap 15", "E: B with logit soft-cap 15"),
    "F relu2": ("F muon + relu2", "F: B with ReLU-squared instead of SwiGLU"),
    "G untied head": (None, "G: B with an untied output head"),
}
KEPT = "C muon + qk_norm (shakespeare-speedrun)"


def shakespeare_ablation() -> str:
    """docs/figures.md: the dev-split ablation of the speedrun's changes (shakespeare_dev_ablation.json)."""
    d = load(EPYC, "shakespeare_dev_ablation")
    three, one = d["three_seeds"], d["rows"]
    lines = [
        "| dev split, 77.6 s budget | full dev loss, 3 seeds: mean [min, max] (steps) | 1 seed (the first sweep) |",
        "|---|---|---|",
    ]
    for key, (first, name) in ABLATION_ROWS.items():
        loss = three[key]["summary"]["best"]["val_loss"]
        steps = [r["best"]["steps"] for r in three[key]["rounds"]]
        text = f"{loss['mean']:.4f} [{loss['min']:.4f}, {loss['max']:.4f}]"
        text = f"**{text}**" if key == KEPT else text
        single = f"{one[first]['summary']['best']['val_loss']['mean']:.4f}" if first else ""
        lines.append(f"| {name} | {text} ({min(steps):,}-{max(steps):,} steps) | {single} |")
    return "\n".join(lines) + "\n"


def rnn_throughput() -> str:
    """docs/figures.md: lmlab's recurrent LM training against a plain torch.nn.LSTM loop (bench/rnn_throughput.py)."""
    r = load(EPYC, "rnn_throughput_lstm_cpu")
    a = r["args"]
    sides = " against ".join(f"{name} {med(s)}" for name, s in r["tokens_per_s"].items())
    return (f"Recurrent LM training throughput, LSTM {a['layers']}x{a['width']}, B{a['batch']}, T{a['block']}, vocab "
            f"{a['vocab']:,}, the same fused AdamW, rounds alternated ({machine_line(r['environment'])}; `python "
            f"bench/rnn_throughput.py --rounds {a['rounds']}`; target within 20%): {sides} tokens/s, ratio "
            f"**{r['ratio']:.2f}**.\n")  # fmt: skip


def senses() -> str:
    """docs/figures.md: the sense test on the pre-trained model of `lmlab run` (bench/senses.py's JSON)."""
    s = load(INTEL, "senses")
    rows = []
    for name, run in s["runs"].items():
        for w in run["words"]:
            gaps = [a - b for a, b in zip(w["within"], w["across"])]
            best = max(range(len(gaps)), key=gaps.__getitem__)
            model = f"{name} ({run['arch']}, {run['params'] / 1e6:.1f}M)"
            rows.append((model, f"{w['word']} ({' / '.join(w['senses'])})",
                         f"{w['mixing'][0]:.3f} → {w['mixing'][-1]:.3f}",
                         f"{gaps[best]:+.3f} ± {w['null_sd'][best]:.3f} ({w['layers'][best]})", f"{w['p']:.3f}",
                         "yes" if w["separates"] else "no"))  # fmt: skip
    lines = [f"`{s['command']}` ({machine_line(s)}; `bench/results/{INTEL}/senses.json`):", "",
             *table("model | word (senses) | mean similarity: embedding → last layer | within - across at the best "
                    "layer (± sd over relabellings) | p | separates", rows)]  # fmt: skip
    return "\n".join(lines) + "\n"


def recall_dev() -> str:
    """docs/figures.md: why MQAR's queries are drawn with replacement and K = 1 is trained (bench/recall_dev.py)."""
    r = load(INTEL, "recall_dev")
    rows = []
    for name, m in r["results"].items():
        g = m["by_gap"]
        per = m["per_query"]
        turns = [f"{per[gap][0]:.2f} → {per[gap][-1]:.2f}" for gap in ("16", "0")]
        k1 = " / ".join(f"{g['1'][k]:.2f}" for k in ("0", "8", "16", "64"))
        k8 = " / ".join(f"{g['8'][k]:.2f}" for k in ("0", "1", "16"))
        rows.append((name, f"{m['steps']:,}", k1, f"{g['2']['8']:.2f}", k8, *turns))
    lines = [f"`{r['command']}` ({machine_line(r)}; `bench/results/{INTEL}/recall_dev.json`; dev rows):", "",
             *table("setting | steps | K = 1, gap 0 / 8 / 16 / 64 | K = 2, gap 8 | K = 8, gap 0 / 1 / 16 | K = 8, gap "
                    "16: first query → last | K = 8, gap 0: first query → last", rows)]  # fmt: skip
    return "\n".join(lines) + "\n"


def compare_quick() -> str:
    """One line: `lmlab compare --quick`'s wall time and peak memory, from bench/compare.py --quick."""
    c = load(INTEL, "compare_quick")
    return f"**{c['minutes']:.1f} min, {c['peak_rss_gb']:.2f} GB** ({c['cpu']}, {c['cpus']} cpus; `compare_quick.json`)"


def compare() -> str:
    """docs/figures.md: every table and verdict of the default `lmlab compare` report, saved by bench/compare.py."""
    c = load(INTEL, "compare")
    lines = [f"`python bench/compare.py` ({machine_line(c)}; `{c['command']}`: **{c['minutes']:.1f} min, peak RSS "
             f"{c['peak_rss_gb']:.2f} GB**; `bench/results/{INTEL}/compare.json`, whose `report` is the report "
             "below in full):", ""]  # fmt: skip
    for line in c["report"].splitlines():
        if line.startswith("## "):
            lines += [f"**{line[3:]}**", ""]
        elif line.startswith("|") or "**Verdict:**" in line:
            lines.append(line)
        elif line.startswith("!["):
            alt, png = line[2:].split("](")
            lines.append(f"![{alt}](../bench/results/{INTEL}/compare_{png.rstrip(')')})")
        elif not line.strip() and lines[-1]:
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


LORA_SIDES = {  # bench/lora.py's sides, as the table names them
    "sft-full": "SFT, every weight", "sft-lora": "SFT, LoRA", "sft-lora-bf16base": "SFT, LoRA, bf16 base",
    "trl-sft-lora": "TRL SFTTrainer + peft LoRA", "dpo-full": "DPO, every weight", "dpo-lora": "DPO, LoRA",
    "dpo-lora-bf16base": "DPO, LoRA, bf16 base",
}  # fmt: skip
LORA_TARGETS = [  # (figure, side, against, key, target, higher is better)
    ("LoRA SFT peak RSS / full SFT's", "sft-lora", "sft-full", "peak_rss_mb", 0.5, False),
    ("LoRA SFT tokens/s / full SFT's", "sft-lora", "sft-full", "tokens_per_s", 1.3, True),
    ("LoRA DPO peak RSS / full DPO's", "dpo-lora", "dpo-full", "peak_rss_mb", 0.4, False),
    ("lmlab LoRA SFT tokens/s / TRL SFTTrainer + peft", "sft-lora", "trl-sft-lora", "tokens_per_s", 1.5, True),
]


def lora_sides(r: dict, side: str, against: str, key: str) -> list[str]:
    """The ratio of two sides' medians in each mode measured: the base in fp32 or bf16, without or with activation
    checkpointing (on both sides of a ratio; TRL's side is as it is)."""
    cells = []
    for mode, mode_label in (("", ""), ("-ac", ", checkpointing")):
        for variant, variant_label in (("", "fp32 base"), ("-bf16base", "bf16 base")):
            a, b = side + variant + mode, against + ("" if against.startswith("trl") else mode)
            if a in r["summary"] and b in r["summary"] and not (mode and against.startswith("trl")):
                ratio = r["summary"][a][key]["median"] / r["summary"][b][key]["median"]
                cells.append(f"{variant_label}{mode_label} {ratio:.2f}x")
    return cells


def lora() -> str:
    """docs/figures.md: LoRA against full fine-tuning and against TRL on SmolLM-135M's shape (bench/lora.py)."""
    r = load(INTEL, "lora")
    settings = r["settings"]
    rows = []
    for name, s in r["summary"].items():
        base = name.removesuffix("-ac")
        label = LORA_SIDES[base] + (", activation checkpointing" if name.endswith("-ac") else "")
        rows.append([label, med(s["tokens_per_s"]), med(s["step_s"], 2), med(s["peak_rss_mb"])])
    lines = [
        f"{machine_line(r)}, transformers {r['transformers']}, trl {r['trl']}, peft {r['peft']}; `{r['command']}`: "
        f"{settings['rounds']} rounds, each side its own process in turn, {settings['steps']} steps a run "
        f"({settings['warmup']} untimed), {settings['batch']} conversations an SFT step, {settings['batch'] // 2} "
        "pairs a DPO step; medians [min, max] over rounds. Peak RSS: the whole command (GNU time).",
        "",
        *table("side | tokens/s | step, s | peak RSS, MB", rows),
        "",
        *lora_targets(r),
    ]
    return "\n".join(lines) + "\n"


def lora_targets(r: dict) -> list[str]:
    """The issue's LoRA figures: each target and its ratio of medians in every mode measured."""
    rows = []
    for figure, side, against, key, target, higher in LORA_TARGETS:
        rows.append([figure, f"{'>=' if higher else '<='} {target}x", "; ".join(lora_sides(r, side, against, key))])
    return table("figure | target | measured (ratio of medians)", rows)


def lora_headline() -> str:
    """README: the LoRA targets on SmolLM-135M's shape (bench/lora.py)."""
    r = load(INTEL, "lora")
    return "\n".join([*lora_targets(r), "", f"({machine_line(r)}; `{r['command']}`)"]) + "\n"


def lora_quality() -> str:
    """docs/figures.md: LoRA SFT against full SFT on the default pipeline's model, per task, over seeds."""
    r = load(INTEL, "lora_quality")
    full, lora_scores = r["scores"]["full"], r["scores"]["lora"]
    n = len(full["val_loss"])

    def cell(values, task):
        f = (lambda v: f"{v:.3f}") if task in ("val_loss", "sft_minutes") else (lambda v: f"{100 * v:.1f}%")
        return f"{f(sum(values) / len(values))} [{f(min(values))}, {f(max(values))}]"

    # The SFT minutes are kept in the JSON but not shown: other work shared the machine (bench/lora.py has the speed).
    def gap(task):
        d = (sum(lora_scores[task]) - sum(full[task])) / n
        return f"{d:+.3f}" if task == "val_loss" else f"{100 * d:+.1f} points"

    rows = [[task, cell(full[task], task), cell(lora_scores[task], task), gap(task)] for task in full
            if task != "sft_minutes"]  # fmt: skip
    dev = "; ".join(f"lr {lr}: {pct(d['dev_accuracy'])}, val loss {d['val_loss']:.3f}" for lr, d in r["dev"].items())
    lines = [
        f"{machine_line(r)}; `{r['command']}`: {n} seeds, {r['steps']} steps each, {r['n']} held-out instances a "
        f"task (test split; benign: the share of look-alikes refused). LoRA: rank {r['lora']['lora_rank']}, alpha "
        f"{r['lora']['lora_alpha']:g}, {r['lora']['lora_targets']} linear layers, lr {r['lora_lr']:g} chosen on the "
        f"dev split ({dev}); full SFT: its default lr {r['full_lr']:g}. Mean [min, max] over seeds:",
        "",
        *table("figure | full SFT | LoRA SFT | LoRA - full (means)", rows),
    ]
    return "\n".join(lines) + "\n"


def fsdp() -> str:
    """docs/figures.md and README: FSDP2 against DDP with 2 processes, memory and tokens/s (bench/fsdp.py)."""
    r = load(INTEL, "fsdp")
    m, t, a = r["memory"], r["throughput"], r["settings"]
    peak, rate = m["peak_rss_mb"], m["tokens_per_s"]

    def med(x: dict, digits: int = 0) -> str:
        return f"{x['median']:,.{digits}f} [{x['min']:,.{digits}f}, {x['max']:,.{digits}f}]"

    def mb(side):
        return f"{peak[side]['median']:,.0f} MB"

    rows = [
        ["per-process peak RSS, FSDP / DDP (63M parameters: fp32 weights + AdamW 1 GB)", "<= 0.6x",
         f"{med(m['over_ddp']['fsdp'], 2)}x ({mb('fsdp')} against {mb('ddp')})"],
        ["the same, glibc's mmap threshold fixed at 4 MB (no heap fragmentation)", "",
         f"{med(m['over_ddp']['fsdp-mmap4mb'], 2)}x ({mb('fsdp-mmap4mb')}), at "
         f"{rate['fsdp-mmap4mb']['median'] / rate['fsdp']['median']:.2f}x FSDP's tokens/s"],
        ["tokens/s of that model: DDP / FSDP", "",
         f"{rate['ddp']['median']:,.0f} / {rate['fsdp']['median']:,.0f}"],
        [f"tokens/s, FSDP / DDP (`cpu-small`{', compiled' if a['compile'] else ''})", ">= 0.85x",
         f"{med(t['fsdp_over_ddp'], 2)}x ({med(t['tokens_per_s']['fsdp'])} against {med(t['tokens_per_s']['ddp'])})"],
    ]  # fmt: skip
    compiled = " --compile" if a["compile"] else ""
    command = (f"python bench/fsdp.py --rounds {a['rounds']} --steps {a['steps']} --warmup {a['warmup']}{compiled} "
               f"--mem-rounds {a['mem_rounds']} --mem-steps {a['mem_steps']}")  # fmt: skip
    lines = [
        *table("figure (2 processes, gloo) | target | measured: median [min, max] of the rounds", rows),
        "",
        f"({machine_line(r['environment'])}; 1 thread a process; `{command}`; {a['mem_rounds']} memory rounds, "
        f"{a['rounds']} speed rounds, alternated)",
    ]
    return "\n".join(lines) + "\n"


def frontier_seeds_table(mode: str) -> str:
    """docs/figures.md: the frontier over seeds, free or at a fixed length, from bench/frontier_seeds.py's JSON."""
    r = load(INTEL, "frontier_seeds")
    agg = r["modes"][mode]["aggregate"]

    def cell(s, digits=3, as_pct=False):
        if s is None:
            return ""
        if as_pct:
            return f"{100 * s['median']:.0f}% [{100 * s['min']:.0f}, {100 * s['max']:.0f}]"
        return f"{s['median']:.{digits}f} [{s['min']:.{digits}f}, {s['max']:.{digits}f}]"

    sft = agg["sft"]
    rows = [("SFT", cell(sft["reward"]), "0", "0", cell(sft["length_mean"], 1), "", cell(sft["ref_logp_per_token"], 2),
             "")]  # fmt: skip
    for p in agg["points"]:
        rows.append((f"{p['method']}, {p['setting']}", cell(p["reward"]), cell(p["kl"], 1), cell(p["kl_per_token"], 2),
                     cell(p["length_mean"], 1), cell(p["length_at_limit"], as_pct=True),
                     cell(p["ref_logp_per_token"], 2), cell(p["win_rate"], as_pct=True)))  # fmt: skip
    seeds = ", ".join(map(str, r["seeds"]))
    head = (
        f"{machine_line(r['machine'])}; `bench/results/{INTEL}/frontier_seeds.json`; median [min, max] over seeds "
        f"{seeds}; {'every response 24 tokens' if mode == 'fixed' else 'responses end where the model stops'}:"
    )
    lines = [head, "", *table("point | VADER reward | KL (nats/response) | KL per token | length (tokens) | at the "
                              "24-token limit | SFT log-lik/token | win rate vs SFT", rows)]  # fmt: skip
    return "\n".join(lines) + "\n"


def frontier_verdict(mode: str) -> str:
    """The KL each method needs to reach the best DPO point's reward, per seed, read off each seed's frontier."""
    r = load(INTEL, "frontier_seeds")
    parts = []
    for s, v in zip(r["seeds"], r["modes"][mode]["verdicts"]):
        t = v["kl"]["to_reach"]["best DPO"]
        ppo = t["PPO (reward model)"]
        ratio = "never" if ppo is None else f"{ppo:.1f} nats ({ppo / t['its_kl']:.0%})"
        parts.append(f"seed {s}: DPO {t['reward']:.3f} at {t['its_kl']:.1f} nats, PPO-RM {ratio}")
    return "; ".join(parts)


def frontier_reward_at(mode: str, key: str = "kl") -> str:
    """Each method's reward on its frontier at the grid's KL values, median over seeds (None where it has no point)."""
    r = load(INTEL, "frontier_seeds")
    verdicts = r["modes"][mode]["verdicts"]
    grid = list(verdicts[0][key]["reward_at"])
    methods = ["DPO", "PPO (reward model)", "PPO (true reward)", "best-of-N"]
    rows = []
    for m in methods:
        cells = []
        for x in grid:
            values = [v[key]["reward_at"][x][m] for v in verdicts if v[key]["reward_at"][x].get(m) is not None]
            cells.append(f"{statistics.median(values):.3f} ({len(values)})" if values else "-")
        if any(c != "-" for c in cells):  # best-of-N's KL stays below the grid's per response
            rows.append((m, *cells))
    unit = "nats per response" if key == "kl" else "nats per token"
    return "\n".join(table(f"reward at KL ({unit}) | " + " | ".join(grid), rows))


def frontier_headline() -> str:
    """README: the length-controlled verdict, PPO (reward model) against DPO, from bench/frontier_seeds.py's JSON."""
    r = load(INTEL, "frontier_seeds")

    def ratios(mode: str) -> tuple[list, list]:
        kls, shares = [], []
        for v in r["modes"][mode]["verdicts"]:
            t = v["kl"]["to_reach"]["best DPO"]
            need = t["PPO (reward model)"]
            kls.append(need)
            shares.append(None if need is None else need / t["its_kl"])
        return kls, shares

    def cell(values, fmt):
        return " / ".join("never" if v is None else fmt.format(v) for v in values)

    free_kl, free_share = ratios("free")
    fixed_kl, fixed_share = ratios("fixed")
    seeds = ", ".join(map(str, r["seeds"]))
    return (
        f"Controlled sentiment, {len(r['seeds'])} seeds ({seeds}; `python bench/frontier_seeds.py --sft RUN/sft`, "
        f"{machine_line(r['machine'])}): the KL per response PPO with the reward model needs to reach the best DPO "
        f"point's reward, per seed, is {cell(free_kl, '{:.1f}')} nats ({cell(free_share, '{:.0%}')} of DPO's) as "
        f"sampled, and {cell(fixed_kl, '{:.1f}')} nats ({cell(fixed_share, '{:.0%}')}) with every response 24 tokens "
        "long.\n"
    )


def frontier_seeds() -> str:
    lines = [frontier_seeds_table("free"), "![free length](../bench/results/" + INTEL + "/frontier_seeds_free.png)", "",
             frontier_seeds_table("fixed"), "![fixed length](../bench/results/" + INTEL + "/frontier_seeds_fixed.png)",
             "", "Each method's frontier read at equal KL (median over the seeds that reach it; how many in brackets), "
             "at a fixed length:", "", frontier_reward_at("fixed"), "", "and free, against the KL per token:", "",
             frontier_reward_at("free", "kl_per_token"), "", "The KL PPO with the reward model needs to reach the best "
             "DPO point's reward: free length: " + frontier_verdict("free") + "; at a fixed length: "
             + frontier_verdict("fixed") + "."]  # fmt: skip
    return "\n".join(lines) + "\n"


def med_range(s: dict | None, digits: int = 3, comma: bool = False) -> str:
    """'median [min, max]' of a bench summary entry."""
    if s is None:
        return ""
    f = f"{{:{',' if comma else ''}.{digits}f}}"
    return f"{f.format(s['median'])} [{f.format(s['min'])}, {f.format(s['max'])}]"


def moe() -> str:
    """docs/figures.md: a mixture of experts against the dense model at equal active parameters and time."""
    r = load(INTEL, "moe")
    s = r["summary"]
    rows = []
    for side in ("dense", "moe"):
        x = s[side]
        load_cell = med_range(x.get("load_max"), 2) if side == "moe" else ""
        rows.append((side, f"{x['active_params']['median']:,.0f}", f"{x['params']['median']:,.0f}",
                     med_range(x["val_bpb"], 4), med_range(x["tokens_per_s"], 0, True), med_range(x["steps"], 0, True),
                     load_cell))  # fmt: skip
    gaps = ", ".join(
        f"{m['val_bpb'] - d['val_bpb']:+.4f}" for m, d in zip(r["per_seed"]["moe"], r["per_seed"]["dense"])
    )
    lines = [
        f"{machine_line(r['machine'])}; `bench/results/{INTEL}/moe.json`; {r['seconds']:.0f} s of training a run, "
        f"dense {'compiled' if r['compile']['dense'] else 'eager'}, "
        f"MoE {'compiled' if r['compile']['moe'] else 'eager'}; "
        "median [min, max] over seeds "
        f"{', '.join(str(x['seed']) for x in r['per_seed']['dense'])}:",
        "",
        *table("model | active parameters | parameters | held-out bits per byte | tokens/s | steps | expert load "
               "(busiest x E)", rows),
        "",
        f"MoE minus dense, bits per byte, per seed: {gaps} (median {s['bpb_gap']['median']:+.4f}).",
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


def distill_table() -> str:
    """docs/figures.md: a half-size student distilled against pre-trained, the same data and time."""
    r = load(INTEL, "distill")
    s = r["summary"]
    rows = [(side, f"{r['per_seed'][side][0]['params']:,}", med_range(s[side]["val_bpb"], 4),
             med_range(s[side]["val_chat_bpb"], 4), med_range(s[side]["steps"], 0, True))
            for side in ("distilled", "pretrained")]  # fmt: skip
    teacher = list(r["teacher_figures"].values())
    rows.append(("teacher", f"{r['teacher_params']:,}", f"{statistics.median(t['val_bpb'] for t in teacher):.4f}",
                 f"{statistics.median(t['val_chat_bpb'] for t in teacher):.4f}", ""))  # fmt: skip
    seeds = ", ".join(str(x["seed"]) for x in r["per_seed"]["distilled"])
    lines = [
        f"{machine_line(r['machine'])}; `bench/results/{INTEL}/distill.json`; {r['seconds']:.0f} s of training a "
        f"run, hard-label weight {r['hard_weight']:g}; median [min, max] over seeds {seeds}:",
        "",
        *table("student | parameters | held-out bits per byte | held-out chat bits per byte | steps", rows),
        "",
        f"Distilled minus pre-trained, per seed: bits per byte {med_range(s['val_bpb_gap'], 4)}, chat bits per byte "
        f"{med_range(s['val_chat_bpb_gap'], 4)} (median [min, max]; negative: distilling helps).",
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


TOOL_TASKS = {"add_3d": "3-digit addition", "add_4d": "4-digit addition", "mul_2x2": "2x2-digit multiplication",
              "tool_phrasings": "held-out phrasings (3-digit +, -, 2x2 *)"}  # fmt: skip


def pct_range(s: dict | None) -> str:
    """'median [min, max]' of a share, in percent."""
    return "" if s is None else f"{100 * s['median']:.1f}% [{100 * s['min']:.1f}, {100 * s['max']:.1f}]"


def tools_table() -> str:
    """docs/figures.md: arithmetic with and without the calculator, per task, over seeds."""
    r = load(INTEL, "tools")
    s, per_seed = r["summary"], r["per_seed"]
    rows = []
    for name in r["tasks"]:
        each = {side: ", ".join(f"{100 * x['tasks'][name]['accuracy']:.1f}" for x in per_seed[side])
                for side in ("direct", "tool")}  # fmt: skip
        rows.append((TOOL_TASKS[name], pct_range(s["direct"][name]["accuracy"]), each["direct"],
                     pct_range(s["tool"][name]["accuracy"]), each["tool"], pct_range(s["tool"][name]["called"]),
                     pct_range(s["tool"][name]["parsed"])))  # fmt: skip
    seeds = ", ".join(str(x["seed"]) for x in per_seed["tool"])
    steps = "lmlab sft's default steps" if not r["max_iters"] else f"{r['max_iters']} SFT steps"
    lines = [
        f"{machine_line(r['machine'])}; `bench/results/{INTEL}/tools.json`; {r['n']} held-out instances a task, "
        f"greedy; {steps}; median [min, max] over seeds {seeds}, then each seed:",
        "",
        *table("held-out task | without the tool | each seed | with the tool | each seed | replies that call | calls "
               "that parse", rows),
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


def tools_headline() -> str:
    """README: the tool's accuracy against the direct answers, one line."""
    r = load(INTEL, "tools")
    s = r["summary"]
    parts = [f"{TOOL_TASKS[name]} {pct_range(s['direct'][name]['accuracy'])} without the tool, "
             f"{pct_range(s['tool'][name]['accuracy'])} with it" for name in r["tasks"]]  # fmt: skip
    parsed = min(s["tool"][name]["parsed"]["min"] for name in r["tasks"] if s["tool"][name]["parsed"])
    return (
        f"Arithmetic through the calculator, {len(r['per_seed']['tool'])} seeds (`python bench/tools.py --pretrain "
        f"RUN/pretrain`, {machine_line(r['machine'])}; median [min, max] of {r['n']} held-out questions a task): "
        + "; ".join(parts)
        + f". Every seed's calls parse at least {100 * parsed:.1f}% of the time.\n"
    )


TABLES = {
    "tools": tools_table,
    "tools-headline": tools_headline,
    "fsdp": fsdp,
    "lora": lora,
    "lora-quality": lora_quality,
    "lora-headline": lora_headline,
    "shakespeare-ablation": shakespeare_ablation,
    "crossover": crossover_tables,
    "compare": compare,
    "compare-quick": compare_quick,
    "recall-dev": recall_dev,
    "crossover-dev": lambda: crossover_tables(INTEL, "crossover_dev_width64"),
    "senses": senses,
    "rnn-throughput": rnn_throughput,
    "rl-frontier": rl_frontier,
    "frontier-seeds": frontier_seeds,
    "frontier-headline": frontier_headline,
    "moe": moe,
    "distill": distill_table,
    "ppo-runs": ppo_runs,
    "grpo-tasks": grpo_tasks,
    "correctness-pairs": correctness_pairs,
    "sentiment-seeds": sentiment_seeds,
    "dpo-sweep": dpo_sweep,
    "quick-run": quick_run,
    "gpu": gpu,
    "serving": serving,
    "speed-peers": speed_peers,
    "inside-lmlab-run": inside_lmlab_run,
    "lmlab-run-headline": lmlab_run_headline, "lmlab-run-seeds": lmlab_run_seeds, "onednn-cache": onednn_cache,
    "shakespeare-peers": shakespeare_peers, "dpo-throughput": dpo_throughput,
}  # fmt: skip


def render(text: str, page: Path) -> str:
    def table(match):
        name = match.group("name")
        if name not in TABLES:
            raise SystemExit(f"bench/figures.py: {page.relative_to(ROOT)}: no table named {name!r}")
        return match.group(1) + TABLES[name]() + match.group(4)

    return BLOCK.sub(table, text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 where a page disagrees")
    args = ap.parse_args(argv)
    stale = []
    for page in PAGES:
        text = page.read_text()
        new = render(text, page)
        if new == text:
            continue
        if args.check:
            old_blocks = {m.group("name"): m.group("body") for m in BLOCK.finditer(text)}
            new_blocks = {m.group("name"): m.group("body") for m in BLOCK.finditer(new)}
            stale += [f"{page.relative_to(ROOT)}: {n}" for n in new_blocks if new_blocks[n] != old_blocks.get(n)]
        else:
            page.write_text(new)
            print(f"rewrote {page.relative_to(ROOT)}")
    if stale:
        print("bench/figures.py --check: these tables disagree with their JSON (run python bench/figures.py):")
        print("\n".join(f"  {s}" for s in stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
