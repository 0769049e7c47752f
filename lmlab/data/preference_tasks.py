"""The built-in preference tasks: prompt sets with a fixed held-out split, and the judge that scores them.

- sentiment: controlled sentiment generation, the IMDb experiment of the DPO paper (Rafailov et
  al. 2023, sec. 6.1) ported to the built-in corpus. A prompt is the first 2 to 8 words of a verse
  of the World English Bible; the policy continues it as plain text (no chat template) and should
  continue it positively. The ground-truth reward is VADER's compound score of the continuation
  (Hutto & Gilbert 2014, PyPI vaderSentiment): a lexicon and rules, from -1 (most negative) to +1.
- tasks: correctness on the SFT task suite (lmlab.data.tasks). A prompt is a task instance asked
  as a one-turn chat; the reward is 1 for an answer the task's grader accepts, else 0.

Held-out split: a sentiment prompt is held out when the hash of its verse falls in the lowest
tenth (lmlab.data.tasks.is_held_out), a task prompt when its own hash does; pairs are built from
training prompts only, and evaluation uses held-out prompts only.
"""

from dataclasses import dataclass

import numpy as np

from lmlab.data import tasks
from lmlab.errors import LmlabError

PREFERENCE_TASKS = ("sentiment", "tasks")
CORRECTNESS_TASKS = ("add_2d", "add_3d", "reverse_word", "count_letter", "verse_reference")  # the SFT headline tasks


@dataclass(frozen=True)
class Prompt:
    """One prompt of a preference task: plain text (sentiment) or a user message (tasks)."""

    text: str
    task: str = "sentiment"  # "sentiment", or the name of an SFT task
    answer: str = ""  # the reference answer of a task instance

    @property
    def conversational(self) -> bool:
        return self.task != "sentiment"

    def as_pair_prompt(self) -> str | list[dict]:
        """The prompt field of a preference pair in TRL's format: text, or messages."""
        return [{"role": "user", "content": self.text}] if self.conversational else self.text


def check_task(name: str) -> str:
    if name not in PREFERENCE_TASKS:
        raise LmlabError(f"unknown preference task {name!r}; choose one of {', '.join(PREFERENCE_TASKS)}")
    return name


def sentiment_prompts(split: str, n: int, seed: int = 0) -> list[Prompt]:
    """n distinct corpus prefixes of 2 to 8 words from the training or held-out verses, drawn with `seed`."""
    from lmlab.data.corpus import bible_verses

    held = split == "test"
    verses = [v.text for v in bible_verses("web") if tasks.is_held_out(v.text) == held and len(v.text.split()) > 8]
    rng = np.random.default_rng([tasks.TEST_SEED if held else seed, 7])
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
            rng = np.random.default_rng([seed, 11, CORRECTNESS_TASKS.index(name)])
            examples = [tasks.train_example(name, rng) for _ in range(per_task)]
        prompts += [Prompt(p, name, a) for p, a in examples]
    return prompts


def task_prompts(task: str, split: str, n: int, seed: int = 0) -> list[Prompt]:
    """The prompts of a preference task: split "train" (for pairs) or "test" (held out, for evaluation)."""
    if check_task(task) == "sentiment":
        return sentiment_prompts(split, n, seed)
    return correctness_prompts(split, n, seed)
