"""The built-in preference tasks: prompt sets with a fixed held-out split, and the judge that scores them.

- sentiment: controlled sentiment generation, the IMDb experiment of the DPO paper (Rafailov et
  al. 2023, sec. 6.1) ported to the built-in corpus. A prompt is the first 2 to 8 words of a verse
  of the World English Bible; the policy continues it as plain text (no chat template) and should
  continue it positively. The ground-truth reward is VADER's compound score of the continuation
  (Hutto & Gilbert 2014, PyPI vaderSentiment): a lexicon and rules, from -1 (most negative) to +1.
- tasks: correctness on the SFT task suite (lmlab.data.tasks). A prompt is a task instance asked
  as a one-turn chat; the reward is 1 for an answer the task's grader accepts, else 0.
- safety: harmlessness, the other half of Anthropic's helpful-and-harmless data (Bai et al. 2022). Half the
  prompts are harmful requests, a quarter benign look-alikes and how-to questions (as SFT's refusal data draws
  them: lmlab.data.refusals) and a quarter small talk (lmlab.data.smalltalk: a model that refuses what it does
  not recognise is timid, not safe), each asked as a one-turn chat; the reward is 1 when the reply refuses a
  harmful request or answers a benign one without refusing (lmlab.data.refusals.is_refusal), else 0. Its
  reference answers are the SFT data's own refusals and replies.
- a mixture, "sentiment+safety" or "sentiment:3+safety": the prompts of several tasks, n shared by the weights
  (1 where none is given), each prompt graded by its own task's judge. A stage that learns one skill from
  preferences drifts on what it does not see (a sentiment-only DPO unlearns refusals, whose words VADER scores
  negative); mixing the safety task in holds them, as helpful and harmless data are mixed for RLHF.

Splits, by a hash of the verse (sentiment) or of the prompt (tasks, safety): "test" is the lowest tenth of
hashes (lmlab.data.tasks.is_held_out, the tasks' own held-out split), "dev" the next tenth, "train"
the rest; safety's test prompts are the refusal evaluation's held-out harmful and benign prompts, which no
training template produces. Pairs are built from training prompts only; settings are tuned on dev prompts, and the
figures reported on test prompts.
"""

import hashlib
from dataclasses import dataclass
from itertools import zip_longest

import numpy as np

from lmlab.data import refusals, tasks
from lmlab.data.bible import bible_verses
from lmlab.data.preferences import encode_prompt
from lmlab.data.smalltalk import OPENERS_TEST, smalltalk_train_example
from lmlab.errors import LmlabError

PREFERENCE_TASKS = ("sentiment", "tasks", "safety")
SAFETY_KINDS = ("harmful", "benign")  # a safety prompt's task: refuse it, or answer it
CORRECTNESS_TASKS = ("add_2d", "add_3d", "reverse_word", "count_letter", "verse_reference")  # the SFT headline tasks


@dataclass(frozen=True)
class Prompt:
    """One prompt of a preference task: plain text (sentiment) or a user message (tasks)."""

    text: str
    task: str = "sentiment"  # "sentiment", the name of an SFT task, or a SAFETY_KINDS kind
    answer: str = ""  # the reference answer of a task instance

    @property
    def conversational(self) -> bool:
        return self.task != "sentiment"

    def as_pair_prompt(self) -> str | list[dict]:
        """The prompt field of a preference pair in TRL's format: text, or messages."""
        return [{"role": "user", "content": self.text}] if self.conversational else self.text


SPLITS = ("train", "dev", "test")


def split_of(text: str) -> str:
    """The split a verse or task prompt belongs to (module docstring)."""
    if tasks.is_held_out(text):
        return "test"
    return "dev" if hashlib.blake2b(text.encode(), digest_size=2).digest()[0] < 52 else "train"


def mixture_parts(spec: str) -> list[tuple[str, str]]:
    """(name, weight text) of each part of a task or mixture spec: "sentiment:3+safety" -> sentiment 3, safety ''."""
    return [part.strip().partition(":")[::2] for part in spec.split("+")]


def task_weights(spec: str) -> dict[str, float]:
    """The tasks of a task or mixture spec ("sentiment", "sentiment:3+safety") and their weights."""
    weights = {}
    for name, weight in mixture_parts(spec):
        if name not in PREFERENCE_TASKS:
            raise LmlabError(
                f"unknown preference task {name!r} in {spec!r}; choose one of {', '.join(PREFERENCE_TASKS)}, or a "
                "mixture such as sentiment+safety or sentiment:3+safety"
            )
        if name in weights:
            raise LmlabError(f"preference task {name!r} appears twice in {spec!r}")
        try:
            weights[name] = float(weight) if weight else 1.0
        except ValueError:
            raise LmlabError(f"{spec!r}: the weight of {name!r} must be a number, got {weight!r}") from None
        if not weights[name] > 0:
            raise LmlabError(f"{spec!r}: the weight of {name!r} must be positive, got {weight}")
    return weights


def check_task(spec: str) -> str:
    task_weights(spec)
    return spec


def shares(spec: str, n: int) -> dict[str, int]:
    """n prompts shared among a mixture's tasks by weight (largest remainders), in the spec's order."""
    weights = task_weights(spec)
    total = sum(weights.values())
    exact = {name: n * w / total for name, w in weights.items()}
    counts = {name: int(x) for name, x in exact.items()}
    for name in sorted(exact, key=lambda k: counts[k] - exact[k])[: n - sum(counts.values())]:
        counts[name] += 1
    return counts


def sentiment_prompts(split: str, n: int, seed: int = 0) -> list[Prompt]:
    """n distinct corpus prefixes of 2 to 8 words from the verses of a split, drawn with `seed` (train) or a fixed
    seed (dev, test)."""
    verses = [v.text for v in bible_verses("web") if split_of(v.text) == split and len(v.text.split()) > 8]
    rng = np.random.default_rng([seed if split == "train" else tasks.TEST_SEED, 7])
    found: dict[str, None] = {}
    for i in rng.permutation(len(verses)):
        words = verses[i].split()
        found.setdefault(" ".join(words[: int(rng.integers(2, 9))]))
        if len(found) == n:
            break
    return [Prompt(text) for text in found]


def correctness_prompts(split: str, n: int, seed: int = 0) -> list[Prompt]:
    """n task instances, spread evenly over CORRECTNESS_TASKS (the first n % 5 get one more), from the training
    or held-out split."""
    prompts = []
    for k, name in enumerate(CORRECTNESS_TASKS):
        per_task = n // len(CORRECTNESS_TASKS) + (k < n % len(CORRECTNESS_TASKS))
        if split == "test":
            examples = tasks.test_examples(name, per_task)
        else:
            rng = np.random.default_rng([seed if split == "train" else tasks.TEST_SEED, 11, k])
            examples = []
            while len(examples) < per_task:
                prompt, answer = tasks.train_example(name, rng)
                if split_of(prompt) == split:
                    examples.append((prompt, answer))
        prompts += [Prompt(p, name, a) for p, a in examples]
    return prompts


def safety_prompts(split: str, n: int, seed: int = 0) -> list[Prompt]:
    """n distinct safety prompts, in turn harmful, look-alike or how-to, harmful, small talk (module docstring): drawn
    as SFT's data draws them (train, dev: by the prompt's hash), or (test) the held-out harmful prompts for half,
    then the held-out look-alikes and small-talk openers in turn."""
    if split == "test":
        harmful = refusals.harmful_test()
        benign = [p for pair in zip_longest(refusals.benign_test(), OPENERS_TEST) for p in pair if p is not None]
        if n > len(harmful) + len(benign):
            raise LmlabError(f"there are {len(harmful) + len(benign)} held-out safety prompts; asked for {n}")
        n_benign = min(n // 2, len(benign))
        asked = [Prompt(p, "harmful") for p in harmful[: n - n_benign]]
        return asked + [Prompt(p, "benign") for p in benign[:n_benign]]
    rng = np.random.default_rng([seed if split == "train" else tasks.TEST_SEED, 13])
    found: dict[str, Prompt] = {}
    for _ in range(1000 * n + 1000):
        if len(found) == n:
            break
        kind = len(found) % 4
        if kind % 2 == 0:
            text, answer = refusals.harmful_example(str(rng.choice(refusals.TRAIN_AREAS)), rng)
        else:
            text, answer = (refusals.benign_example if kind == 1 else smalltalk_train_example)(rng)
        # a chat reply that reads as a refusal ("I can't make decisions hahaha") would be a chosen refusal of small talk
        if split_of(text) == split and refusals.is_refusal(answer) == (kind % 2 == 0):
            found.setdefault(text, Prompt(text, "harmful" if kind % 2 == 0 else "benign", answer))
    else:
        raise LmlabError(f"could draw only {len(found)} distinct {split} safety prompts; asked for {n}")
    return list(found.values())


def task_prompts(task: str, split: str, n: int, seed: int = 0) -> list[Prompt]:
    """The prompts of a preference task or mixture (each task's share in turn): split "train" (for pairs), "dev"
    (tuning) or "test" (reported figures)."""
    if split not in SPLITS:
        raise LmlabError(f"unknown split {split!r}; splits: {', '.join(SPLITS)}")
    draw = {"sentiment": sentiment_prompts, "tasks": correctness_prompts, "safety": safety_prompts}
    return [p for name, k in shares(task, n).items() if k for p in draw[name](split, k, seed)]


def fitting(prompts: list[Prompt], tokenizer, model, max_new_tokens: int) -> tuple[list[Prompt], int]:
    """The prompts that leave room for max_new_tokens in the model's context, and how many did not."""
    room = model.config.block_size - max_new_tokens
    kept = [p for p in prompts if len(encode_prompt(tokenizer, p.as_pair_prompt())) <= room]
    return kept, len(prompts) - len(kept)
