"""The built-in preference tasks: prompt sets with a fixed held-out split, and the judge that scores them.

- sentiment: controlled sentiment generation, the IMDb experiment of the DPO paper (Rafailov et
  al. 2023, sec. 6.1) ported to the built-in corpus. A prompt is the first 2 to 8 words of a verse
  of the World English Bible; the policy continues it as plain text (no chat template) and should
  continue it positively. The ground-truth reward is VADER's compound score of the continuation
  (Hutto & Gilbert 2014, PyPI vaderSentiment): a lexicon and rules, from -1 (most negative) to +1.
- tasks: correctness on the SFT task suite (lmlab.data.tasks). A prompt is a task instance asked
  as a one-turn chat; the reward is 1 for an answer the task's grader accepts, else 0.

Splits, by a hash of the verse (sentiment) or of the prompt (tasks): "test" is the lowest tenth of
hashes (lmlab.data.tasks.is_held_out, the tasks' own held-out split), "dev" the next tenth, "train"
the rest. Pairs are built from training prompts only; settings are tuned on dev prompts, and the
figures reported on test prompts.
"""

import hashlib
from dataclasses import dataclass

import numpy as np

from lmlab.data import tasks
from lmlab.data.preferences import encode_prompt
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


SPLITS = ("train", "dev", "test")


def split_of(text: str) -> str:
    """The split a verse or task prompt belongs to (module docstring)."""
    if tasks.is_held_out(text):
        return "test"
    return "dev" if hashlib.blake2b(text.encode(), digest_size=2).digest()[0] < 52 else "train"


def check_task(name: str) -> str:
    if name not in PREFERENCE_TASKS:
        raise LmlabError(f"unknown preference task {name!r}; choose one of {', '.join(PREFERENCE_TASKS)}")
    return name


def sentiment_prompts(split: str, n: int, seed: int = 0) -> list[Prompt]:
    """n distinct corpus prefixes of 2 to 8 words from the verses of a split, drawn with `seed` (train) or a fixed
    seed (dev, test)."""
    from lmlab.data.corpus import bible_verses

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


def task_prompts(task: str, split: str, n: int, seed: int = 0) -> list[Prompt]:
    """The prompts of a preference task: split "train" (for pairs), "dev" (tuning) or "test" (reported figures)."""
    if split not in SPLITS:
        raise LmlabError(f"unknown split {split!r}; splits: {', '.join(SPLITS)}")
    if check_task(task) == "sentiment":
        return sentiment_prompts(split, n, seed)
    return correctness_prompts(split, n, seed)


def fitting(prompts: list[Prompt], tokenizer, model, max_new_tokens: int) -> tuple[list[Prompt], int]:
    """The prompts that leave room for max_new_tokens in the model's context, and how many did not."""
    room = model.config.block_size - max_new_tokens
    kept = [p for p in prompts if len(encode_prompt(tokenizer, p.as_pair_prompt())) <= room]
    return kept, len(prompts) - len(kept)
