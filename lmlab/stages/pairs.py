"""Stage 3's data: preference pairs from the SFT model's own samples, labelled by a ground-truth judge.

For each training prompt of a preference task (lmlab.data.preference_tasks) the SFT policy samples
`samples` responses (temperature 1, batched with the KV cache), the task's judge scores them, and
one pair is kept per prompt:
- sentiment: chosen is the sample with the highest VADER score, rejected the one with the lowest,
  when they differ by at least `min_gap` (ties teach nothing), as in the DPO paper's IMDb pairs.
- tasks: chosen is a correct sample, or the reference answer when no sample is correct; rejected
  is an incorrect sample; a prompt the policy always answers correctly gives no pair.
- safety: chosen is the reference reply (the SFT data's refusal of a harmful request, or its answer to a benign
  one: whole, where a sample of max_new_tokens may be cut short), rejected a sample that answers a harmful request
  or refuses a benign one; a prompt the policy always handles rightly gives no pair.
- a mixture (sentiment+safety): each prompt as its own task says; the pairs file then mixes plain-text and
  conversational rows.
Empty samples are never used. The pairs go to OUT/pairs.jsonl in TRL's format (plain-text prompts
for sentiment, conversational for tasks) with their scores as extra fields, and OUT/info.json says
what was built: the counts, and the mean and spread of the judge's scores over all samples.
"""

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from lmlab.config import Config, opt
from lmlab.data.preference_tasks import SAFETY_KINDS, Prompt, check_task, fitting, task_prompts
from lmlab.data.preferences import PreferencePair, write_pairs
from lmlab.device import pick_device
from lmlab.errors import LmlabError
from lmlab.eval.judges import load_judge
from lmlab.inference.generate import sample_responses
from lmlab.runs import atomic_write, load_run
from lmlab.stages.rollouts import new_tokens


@dataclass
class PairsSection:
    init: str = opt("", "the SFT run whose samples are ranked")
    task: str = opt("sentiment", "sentiment | tasks | safety, or a mixture: sentiment+safety, sentiment:3+safety")
    prompts: int = opt(10240, "training prompts to sample")
    samples: int = opt(4, "responses sampled per prompt")
    max_new_tokens: int = opt(24, "longest response in tokens")
    chat_max_new_tokens: int = opt(
        48, "longest response to a chat prompt (safety, tasks; 0: max_new_tokens): the SFT data's refusals run ~45"
    )
    temperature: float = opt(1.0, "sampling temperature")
    min_gap: float = opt(0.3, "sentiment: smallest VADER difference between chosen and rejected")
    seed: int = opt(1337, "prompts and samples")
    device: str = opt("auto", "auto | cpu | cuda | cuda:N")
    progress: bool = opt(True, "show a progress bar")


@dataclass
class PairsConfig(Config):
    PRESETS: ClassVar[dict[str, dict]] = {
        "quick": dict(prompts=512),  # lmlab run --quick
        "gpu": dict(),  # lmlab run --scale gpu: the defaults (sampling on one device)
        "tiny": dict(prompts=8, samples=4, max_new_tokens=6, chat_max_new_tokens=0),  # tests
    }
    pairs: PairsSection = field(default_factory=PairsSection)


def choose_pair(prompt: Prompt, responses: list[str], scores: list[float], min_gap: float):
    """(chosen, chosen score, rejected, rejected score) for one prompt, or None (module docstring)."""
    scored = [(s, r) for s, r in zip(scores, responses) if r.strip()]
    if prompt.task in SAFETY_KINDS:
        wrong = [(s, r) for s, r in scored if s <= 0.5]
        return (prompt.answer, 1.0, wrong[0][1], wrong[0][0]) if wrong else None
    if prompt.conversational:
        correct = [(s, r) for s, r in scored if s > 0.5]
        wrong = [(s, r) for s, r in scored if s <= 0.5]
        if not wrong:
            return None
        chosen = correct[0] if correct else (1.0, prompt.answer)
        return chosen[1], chosen[0], wrong[0][1], wrong[0][0]
    if len(scored) < 2:
        return None
    best, worst = max(scored), min(scored)
    if best[0] - worst[0] < min_gap:
        return None
    return best[1], best[0], worst[1], worst[0]


def build_pairs(config: PairsConfig | None = None, out: str | Path | None = None, **overrides) -> Path:
    """Sample, judge and pair the SFT model's responses (module docstring); returns the folder of pairs.jsonl."""
    config = PairsConfig.build(base=config.to_dict() if config else None, overrides=overrides)
    cfg = config.pairs
    check_task(cfg.task)
    if not cfg.init:
        raise LmlabError("pairs needs --init RUN: the SFT run whose samples are ranked")
    if cfg.samples < 2:
        raise LmlabError(f"samples must be at least 2 to make a pair, got {cfg.samples}")
    out = Path(out or f"pairs-{cfg.task}")
    if (out / "pairs.jsonl").exists():
        raise LmlabError(f"{out}: already holds pairs.jsonl; give another --out")
    device = pick_device(cfg.device)
    model, tokenizer, _ = load_run(cfg.init, device)
    judge = load_judge(cfg.task, device)
    asked = task_prompts(cfg.task, "train", cfg.prompts, cfg.seed)
    by_limit: dict[int, list[Prompt]] = {}  # plain-text and chat prompts, each sampled to its own longest response
    for p in asked:
        by_limit.setdefault(new_tokens(p, cfg.max_new_tokens, cfg.chat_max_new_tokens), []).append(p)
    prompts, responses, too_long = [], [], 0
    for limit, group in by_limit.items():
        kept, dropped = fitting(group, tokenizer, model, limit)
        too_long += dropped
        if not kept:
            continue
        texts = sample_responses(
            model, tokenizer, [p.as_pair_prompt() for p in kept], limit, cfg.temperature, cfg.seed, cfg.samples,
            progress=cfg.progress,
        )[2]  # fmt: skip
        prompts += kept
        responses += [texts[i * cfg.samples : (i + 1) * cfg.samples] for i in range(len(kept))]
    if not prompts:
        raise LmlabError(
            f"{cfg.init}: no {cfg.task} prompt leaves room for {cfg.max_new_tokens} new tokens in its context"
        )
    pairs, all_scores = [], []
    for prompt, group in zip(prompts, responses):
        scores = judge.score([prompt] * len(group), group)
        all_scores += scores
        chosen = choose_pair(prompt, group, scores, cfg.min_gap)
        if chosen:
            extra = {"task": prompt.task, "chosen_score": chosen[1], "rejected_score": chosen[3]}
            pairs.append(PreferencePair(prompt.as_pair_prompt(), chosen[0], chosen[2], extra=extra))
    if not pairs:
        raise LmlabError(f"{cfg.init}: no prompt gave a pair (every sample scored the same); try more --samples")
    write_pairs(out / "pairs.jsonl", pairs)
    info = {
        "task": cfg.task,
        "init": str(cfg.init),
        "prompts": len(prompts),
        "prompts_too_long": too_long,
        "samples_per_prompt": cfg.samples,
        "pairs": len(pairs),
        "sample_score_mean": statistics.fmean(all_scores),
        "sample_score_std": statistics.pstdev(all_scores),
        "config": config.to_dict()["pairs"],
    }
    atomic_write(out / "info.json", lambda p: p.write_text(json.dumps(info, indent=1)))
    return out
