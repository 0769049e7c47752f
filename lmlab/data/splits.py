"""The held-out split every built-in data source shares, in a module that imports none of them.

An instance is a test instance when the hash of its prompt falls in the lowest tenth (`is_held_out`), whatever the
seed or the number of examples; training draws reject such instances (`train_draw`), so no test prompt is ever trained
on, and the test set of a generator is its first n distinct held-out prompts drawn with the fixed TEST_SEED
(`held_out_draws`). lmlab.data.tasks registers the tasks; the sources it registers (small talk, refusals, how-to,
reading, the elements) use these helpers, so none of them imports the registry.
"""

import hashlib
from collections.abc import Callable

import numpy as np

TEST_SEED = 20240601
Make = Callable[[np.random.Generator], tuple[str, str]]  # rng -> (prompt, answer)


def is_held_out(prompt: str) -> bool:
    return hashlib.blake2b(prompt.encode(), digest_size=2).digest()[0] < 26  # ~10%


def held_out_draws(make: Make, n: int) -> list[tuple[str, str]]:
    """The first n distinct held-out instances of a generator (fewer when it has fewer)."""
    rng = np.random.default_rng(TEST_SEED)
    found: dict[str, str] = {}
    for _ in range(200 * n):
        prompt, answer = make(rng)
        if is_held_out(prompt):
            found.setdefault(prompt, answer)
            if len(found) == n:
                break
    return list(found.items())


def train_draw(make: Make, rng: np.random.Generator) -> tuple[str, str]:
    """One training instance of a generator: the first draw that is not held out."""
    while True:
        prompt, answer = make(rng)
        if not is_held_out(prompt):
            return prompt, answer
