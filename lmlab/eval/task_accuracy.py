"""Task evaluation: exact-match accuracy on the held-out instances of the built-in tasks.

Each instance is asked as a one-turn chat (the chat template of lmlab.data.conversations) and answered by
greedy decoding until <|end|>, with the calculator in the loop (lmlab.tools.loop: a model that calls it gets its
result and goes on); the reply's last words are graded by lmlab.data.tasks.grade. A pre-trained
model sees the same prompt, so its accuracy is the baseline that SFT improves on.
"""

from pathlib import Path

import torch

from lmlab.data.conversations import render_prompt
from lmlab.data.tasks import grade_task, task, test_examples
from lmlab.tokenizer import Tokenizer
from lmlab.tools.loop import ToolReply, is_error

# The tasks the issue sets targets for, measured during SFT and by `lmlab eval --tasks` by default.
HEADLINE_TASKS = ("add_2d", "add_3d", "reverse_word", "count_letter", "verse_reference")


def reply(model, tokenizer: Tokenizer, prompt: str, max_new_tokens: int) -> ToolReply:
    """The model's greedy reply to one user message, tool calls run (max_new_tokens a turn)."""
    ids = render_prompt(tokenizer, [{"role": "user", "content": prompt}])
    ids = ids[-(model.config.block_size - 1) :]  # a prompt longer than the context keeps its end
    out = ToolReply(model, tokenizer, max_new_tokens)
    out.run(ids)
    return out


def answer(model, tokenizer: Tokenizer, prompt: str, max_new_tokens: int) -> str:
    """The model's greedy answer to one user message: its reply's last words."""
    return reply(model, tokenizer, prompt, max_new_tokens).text


def budget(name: str, tokenizer: Tokenizer, reference: str) -> int:
    """A task's reply budget a turn: its own for free text, else the reference's length + 4 tokens (a longer answer
    is wrong)."""
    return task(name).max_new_tokens or len(tokenizer.encode(reference)) + 4


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
        correct = sum(grade_task(name, answer(model, tokenizer, p, budget(name, tokenizer, a)), a) for p, a in examples)
        results[name] = correct / max(len(examples), 1)
    return results


@torch.no_grad()
def tool_use(model, tokenizer: Tokenizer, tasks: list[str] | tuple[str, ...], n: int) -> dict[str, dict]:
    """Per task, on its first n held-out instances: "accuracy"; "called", the share of replies that call the
    calculator; "parsed", the share of calls the calculator computed (the rest got an error result; None without
    calls); "calls", how many."""
    results = {}
    for name in tasks:
        examples = test_examples(name, n)
        replies = [reply(model, tokenizer, p, budget(name, tokenizer, a)) for p, a in examples]
        calls = [result for r in replies for _, result in r.calls]
        correct = sum(grade_task(name, r.text, a) for r, (_, a) in zip(replies, examples))
        results[name] = {
            "accuracy": correct / max(len(examples), 1),
            "called": sum(bool(r.calls) for r in replies) / max(len(replies), 1),
            "parsed": sum(not is_error(c) for c in calls) / len(calls) if calls else None,
            "calls": len(calls),
        }
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
