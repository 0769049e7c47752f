"""Task evaluation: exact-match accuracy on the held-out instances of the built-in tasks.

Each instance is asked as a one-turn chat (the chat template of lmlab.data.conversations) and answered by
greedy decoding until <|end|>; the answer is graded by lmlab.data.tasks.grade. A pre-trained
model sees the same prompt, so its accuracy is the baseline that SFT improves on.
"""

from pathlib import Path

import torch

from lmlab.data.conversations import render_prompt
from lmlab.data.tasks import grade_task, task, test_examples
from lmlab.inference.generate import generate
from lmlab.tokenizer import Tokenizer

# The tasks the issue sets targets for, measured during SFT and by `lmlab eval --tasks` by default.
HEADLINE_TASKS = ("add_2d", "add_3d", "reverse_word", "count_letter", "verse_reference")


def answer(model, tokenizer: Tokenizer, prompt: str, max_new_tokens: int) -> str:
    """The model's greedy answer to one user message."""
    end = tokenizer.special_id("<|end|>")
    ids = render_prompt(tokenizer, [{"role": "user", "content": prompt}])
    ids = ids[-(model.config.block_size - 1) :]  # a prompt longer than the context keeps its end
    out = []
    for token in generate(model, ids, max_new_tokens, temperature=0.0, stop_ids=(end, tokenizer.eos_id)):
        if token in (end, tokenizer.eos_id):
            break
        out.append(token)
    return tokenizer.decode(out, skip_special_tokens=True)


def dev_examples(name: str, n: int) -> list[tuple[str, str]]:
    """n held-out instances for tuning: those after the first n (the reported ones). Like them they are unseen in
    SFT (which trains on every other prompt), and disjoint from them, so a setting tuned here is reported fairly."""
    return test_examples(name, 2 * n)[n:]


@torch.no_grad()
def accuracy(
    model, tokenizer: Tokenizer, tasks: list[str] | tuple[str, ...], n: int, split: str = "test"
) -> dict[str, float]:
    """Exact-match accuracy of a model on the first n held-out instances of each task (split "dev": dev instances)."""
    results = {}
    for name in tasks:
        examples = (dev_examples if split == "dev" else test_examples)(task(name).name, n)
        budget = task(name).max_new_tokens  # free-text replies; else an answer longer than the reference is wrong
        correct = sum(
            grade_task(name, answer(model, tokenizer, p, budget or len(tokenizer.encode(a)) + 4), a)
            for p, a in examples
        )
        results[name] = correct / max(len(examples), 1)
    return results


def task_accuracy(
    run: str | Path,
    tasks: list[str] | tuple[str, ...] = HEADLINE_TASKS,
    n: int = 200,
    device="auto",
    split: str = "test",
) -> dict[str, float]:
    """Exact-match accuracy of a run folder's model (pre-trained or SFT) per task: {task: fraction}."""
    from lmlab.device import pick_device
    from lmlab.runs import load_run

    model, tokenizer, _ = load_run(run, pick_device(device))
    return accuracy(model, tokenizer, tasks, n, split)
