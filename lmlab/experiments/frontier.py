"""`lmlab frontier`: the reward/KL frontier of the DPO paper (Rafailov et al. 2023, fig. 2) on controlled sentiment.

From one SFT run: preference pairs of its own samples ranked by VADER, a reward model on them, then policies that
trade reward against distance from the SFT model, each measured the same way on held-out test prompts (one
sample per prompt at temperature 1, lmlab.eval.preference): the mean true reward (VADER) against the KL to the
SFT model (nats per response).
- PPO with the learned reward model, at several KL coefficients beta;
- PPO with the true reward (VADER itself: the paper's "PPO-GT"), at the same betas;
- DPO at several betas;
- best-of-N: N samples of the SFT model per prompt, the one the reward model scores highest; its KL to the SFT
  model is at most log N - (N - 1) / N (Stiennon et al. 2020; Beirami et al. 2024), which is what is plotted.
Every point also reports its responses' lengths (mean, median, the share that reached the 24-token limit) and the KL
per token: a policy that says less spends less KL per response, so the frontier's second panel draws the reward
against the KL per token; and the fluency of its responses, the SFT model's log-likelihood of them per token.
`--fixed-length` evaluates the same trained policies at a fixed length instead (every response 24 tokens, the stop
token never drawn, for the policies, the SFT model and best-of-N alike): the training is left as it is, since masking
the stop token in PPO's rollouts would change what PPO learns; `--runs-from DIR` measures an earlier frontier's runs
(its pairs, reward model, DPO and PPO runs) instead of training them again.
Writes OUT/frontier.png, OUT/frontier.md (the table) and OUT/frontier.json; the runs stay in OUT for inspection.
"""

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch

from lmlab.config import Config, opt
from lmlab.data.preference_tasks import fitting, task_prompts
from lmlab.device import pick_device
from lmlab.errors import LmlabError
from lmlab.eval.judges import RewardModelJudge, SentimentJudge
from lmlab.eval.preference import evaluate_preference, length_figures, response_logps
from lmlab.experiments.report import metrics_table
from lmlab.inference.generate import sample_responses, stop_ids
from lmlab.runs import RunFolder, load_run
from lmlab.stages.dpo import DPOConfig, dpo
from lmlab.stages.pairs import PairsConfig, build_pairs
from lmlab.stages.ppo import PPOConfig, ppo
from lmlab.stages.recipe import default_out
from lmlab.stages.reward import RewardConfig, reward


@dataclass
class FrontierSettings:
    init: str = opt("", "the SFT run every policy starts from and is measured against")
    pairs: str = opt("", "sentiment pairs of the SFT run (default: built with lmlab pairs' defaults)")
    reward_model: str = opt("", "a reward model trained on them (default: trained with lmlab reward's defaults)")
    dpo_betas: str = opt("0.03,0.1,0.3,1", "comma-separated betas of the DPO points")
    ppo_kl_coefs: str = opt("0.02,0.05,0.2", "comma-separated KL coefficients of the PPO points (both rewards)")
    best_of: str = opt("2,4,8,16", "comma-separated N of the best-of-N points")
    n: int = opt(256, "held-out test prompts each point is measured on")
    stage_preset: str = opt("", "preset of the pairs, reward, DPO and PPO runs (quick: minutes)")
    seed: int = opt(0, "evaluation sampling seed")
    train_seed: int = opt(1337, "seed of the pairs, the reward model and every DPO and PPO run")
    fixed_length: bool = opt(False, "measure every point at a fixed length: 24 tokens, the stop token never drawn")
    runs_from: str = opt("", "an earlier frontier folder: measure its trained runs again (e.g. at a fixed length) "
                             "instead of training them")  # fmt: skip

    def numbers(self, name: str) -> list[float]:
        return [float(x) for x in getattr(self, name).split(",") if x.strip()]


@dataclass
class FrontierConfig(Config):
    PRESETS: ClassVar[dict[str, dict]] = {
        "quick": dict(dpo_betas="0.1,1", ppo_kl_coefs="0.05", best_of="4", n=64, stage_preset="quick"),
    }
    frontier: FrontierSettings = field(default_factory=FrontierSettings)


@torch.no_grad()
def best_of_n(sft: str, reward_model: str, ns: list[int], n_prompts: int, seed: int, device,
              fixed_length: bool = False) -> list[dict]:  # fmt: skip
    """For each N, the true reward of the response (of N samples per prompt) that the reward model scores highest;
    its length figures, and the analytic KL bound per token of those responses."""
    policy = load_run(sft, device)
    prompts = fitting(task_prompts("sentiment", "test", n_prompts), policy.tokenizer, policy.model, 24)[0]
    asked = [p.as_pair_prompt() for p in prompts]
    most = max(ns)
    prompt_ids, responses, texts = sample_responses(policy.model, policy.tokenizer, asked, 24, seed=seed, samples=most,
                                           include_stop=True, fixed_length=fixed_length)  # fmt: skip
    stop = stop_ids(policy.tokenizer)
    per_sample = [p for p in prompts for _ in range(most)]
    learned = torch.tensor(RewardModelJudge(reward_model, device).score(per_sample, texts)).view(-1, most)
    suppress = stop if fixed_length else ()
    fluency = torch.from_numpy(response_logps(policy.model, prompt_ids, responses, device, suppress_ids=suppress))
    true = torch.tensor(SentimentJudge().score(per_sample, texts)).view(-1, most)
    points = []
    for n in ns:
        best = learned[:, :n].argmax(1)  # the first n samples of each prompt: N independent draws
        rewards = true[torch.arange(len(prompts)), best]
        rows = [i * most + int(b) for i, b in enumerate(best)]
        chosen = [responses[r] for r in rows]
        lengths = length_figures(chosen, stop, 24)
        ref_logp = float(fluency[rows].sum()) / max(sum(len(r) for r in chosen), 1)
        kl = math.log(n) - (n - 1) / n
        points.append({
            "method": "best-of-N", "setting": f"N={n}", "reward": float(rewards.mean()),
            "reward_sem": float(rewards.std() / math.sqrt(len(rewards))), "kl": kl,
            "kl_per_token": kl / max(lengths["length_mean"], 1e-9), "ref_logp_per_token": ref_logp, **lengths,
        })  # fmt: skip
    return points


LENGTH_KEYS = ("length_mean", "length_median", "length_at_limit", "ref_logp_per_token")


def point(method: str, setting: str, run: Path, n: int, seed: int, fixed_length: bool = False) -> dict:
    result = evaluate_preference(run, "sentiment", n=n, seed=seed, fixed_length=fixed_length)
    return {"method": method, "setting": setting, "reward": result["reward"], "reward_sem": result["reward_sem"],
            "kl": result["kl"], "kl_per_token": result["kl_per_token"], "win_rate": result["win_rate"],
            **{k: result[k] for k in LENGTH_KEYS}, "run": str(run)}  # fmt: skip


def spread(points: list[dict], key: str, fallback=None):
    """Error bars from the points' KEY_lo and KEY_hi (a range over seeds) where they have them, else fallback."""
    if not all(f"{key}_lo" in p for p in points):
        return fallback
    return [[p[key] - p[f"{key}_lo"] for p in points], [p[f"{key}_hi"] - p[key] for p in points]]


def plot_frontier(points: list[dict], sft_reward: float, out: Path, title: str = "") -> Path:
    """Reward against the KL per response and per token; error bars: the points' range over seeds where given
    (KEY_lo, KEY_hi), else the reward's standard error."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=120, sharey=True)
    styles = {"PPO (reward model)": "o-", "PPO (true reward)": "s-", "DPO": "^-", "best-of-N": "d--"}
    for ax, key, unit in zip(axes, ("kl", "kl_per_token"), ("nats per response", "nats per token")):
        for method, style in styles.items():
            mine = sorted((p for p in points if p["method"] == method), key=lambda p: p[key])
            if mine:
                ax.errorbar([p[key] for p in mine], [p["reward"] for p in mine], xerr=spread(mine, key),
                            yerr=spread(mine, "reward", [p["reward_sem"] for p in mine]), fmt=style, label=method,
                            capsize=2, lw=1.2)  # fmt: skip
                for p in mine:
                    ax.annotate(f"{p['setting']}, {p['length_mean']:.0f} tok", (p[key], p["reward"]), fontsize=6,
                                xytext=(3, 3), textcoords="offset points")  # fmt: skip
        ax.plot([0], [sft_reward], "k*", ms=10, label="SFT")
        ax.set(xlabel=f"KL(policy || SFT), {unit}", title=f"reward against KL per {unit.split()[-1]}")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("mean true reward (VADER)")
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def earlier_frontier(folder: str) -> dict:
    """The record of a finished frontier (its pairs and reward model), for --runs-from."""
    record = Path(folder) / "frontier.json"
    if not record.is_file():
        raise LmlabError(f"{record}: missing; --runs-from needs the folder of a finished lmlab frontier")
    try:
        return json.loads(record.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise LmlabError(f"{record}: not a frontier record ({e})") from None


def run_frontier(config: FrontierConfig, out=None, device: str = "auto", progress: bool = True) -> Path:
    f = config.frontier
    root = Path(out or default_out("frontier"))
    root.mkdir(parents=True, exist_ok=True)
    common = {"device": device, "progress": progress, "seed": f.train_seed}
    preset = f.stage_preset or None
    t0 = time.perf_counter()
    earlier = earlier_frontier(f.runs_from) if f.runs_from else None

    def trained(name: str, train) -> Path:
        if earlier is None:
            return train(root / name)
        run = Path(f.runs_from) / name
        if not RunFolder(run).weights_file().is_file():
            raise LmlabError(f"{run}: no trained run there; --runs-from needs the frontier's own settings")
        return run

    if earlier is not None:
        pairs, rm = f.pairs or earlier["pairs"], f.reward_model or earlier["reward_model"]
    else:
        pairs = f.pairs or build_pairs(PairsConfig.build(preset, overrides={**common, "init": f.init}),
                                       out=root / "pairs")  # fmt: skip
        rm = f.reward_model or reward(RewardConfig.build(preset, overrides=common), init=f.init, data=pairs,
                                      out=root / "reward")  # fmt: skip
    sft = evaluate_preference(f.init, "sentiment", n=f.n, seed=f.seed, fixed_length=f.fixed_length)
    points, timings = [], {}
    for beta in f.numbers("dpo_betas"):
        t = time.perf_counter()
        run = trained(f"dpo-beta{beta:g}", lambda out: dpo(DPOConfig.build(preset, overrides={**common, "beta": beta}),
                                                            init=f.init, data=pairs, out=out))  # fmt: skip
        timings[f"dpo beta={beta:g}"] = time.perf_counter() - t
        points.append(point("DPO", f"beta={beta:g}", run, f.n, f.seed, f.fixed_length))
    for label, judge in (("PPO (reward model)", str(rm)), ("PPO (true reward)", "sentiment")):
        for coef in f.numbers("ppo_kl_coefs"):
            t = time.perf_counter()
            name = f"ppo-{'rm' if judge != 'sentiment' else 'true'}-kl{coef:g}"
            run = trained(name, lambda out: ppo(PPOConfig.build(preset, overrides={**common, "kl_coef": coef}),
                                                init=f.init, reward=judge, out=out))  # fmt: skip
            timings[f"{label} beta={coef:g}"] = time.perf_counter() - t
            points.append(point(label, f"beta={coef:g}", run, f.n, f.seed, f.fixed_length))
    ns = [int(n) for n in f.numbers("best_of")]
    points += best_of_n(f.init, str(rm), ns, f.n, f.seed, pick_device(device), f.fixed_length)
    plot_frontier(points, sft["reward"], root / "frontier.png")

    def lengths(p: dict) -> dict:
        return {"length (tokens)": p["length_mean"], "at the limit": f"{p['length_at_limit']:.0%}",
                "SFT log-lik/token": p["ref_logp_per_token"]}  # fmt: skip

    rows = {"SFT": {"reward": sft["reward"], "KL (nats)": 0.0, "KL per token": 0.0, **lengths(sft),
                    "win rate vs SFT": ""}}  # fmt: skip
    for p in points:
        rows[f"{p['method']}, {p['setting']}"] = {
            "reward": p["reward"], "KL (nats)": p["kl"], "KL per token": p["kl_per_token"], **lengths(p),
            "win rate vs SFT": f"{p['win_rate']:.1%}" if "win_rate" in p else ""}  # fmt: skip
    columns = ["reward", "KL (nats)", "KL per token", "length (tokens)", "at the limit", "SFT log-lik/token",
               "win rate vs SFT"]  # fmt: skip
    table = metrics_table(rows, columns)
    minutes = (time.perf_counter() - t0) / 60
    (root / "frontier.md").write_text(
        f"# Reward against KL on controlled sentiment\n\nFrom {f.init}; {f.n} held-out prompts per point"
        f"{'; every response 24 tokens (fixed length)' if f.fixed_length else ''}; "
        f"{minutes:.1f} min in all.\n\n![frontier](frontier.png)\n\n{table}\n"
    )
    result = {"sft": {"reward": sft["reward"], "reward_sem": sft["reward_sem"], **{k: sft[k] for k in LENGTH_KEYS}},
              "fixed_length": f.fixed_length, "train_seed": f.train_seed, "seed": f.seed, "points": points,
              "runs_from": f.runs_from,
              "timings_s": timings, "minutes": minutes, "pairs": str(pairs), "reward_model": str(rm)}  # fmt: skip
    (root / "frontier.json").write_text(json.dumps(result, indent=1))
    return root
