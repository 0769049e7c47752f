"""Arithmetic answered through the calculator (lmlab.tools): the SFT conversations of `lmlab sft --tools`, and the
phrasings they are asked in.

A drill's question "What is 123 + 456?" becomes, half the time, another way of asking it ("Add 123 and 456.",
"What is 123 plus 456?"), and its answer goes through the tool: the assistant calls the calculator with the
expression written out in symbols, the tool answers, and the assistant repeats the result:

    user: Add 123 and 456.   assistant: <|call|>123 + 456   tool: 579   assistant: 579

TRAIN_PHRASINGS are trained; TEST_PHRASINGS never are, and the task `tool_phrasings` (lmlab.data.tasks) asks
held-out numbers in them, to measure whether the habit of calling carries over to a question asked differently. Each
operation's words ("sum", "difference", "product", "plus", "minus", "times") appear in some trained phrasing: the
held-out ones are new sentences, not new words (with "product" and "difference" never trained, a first model wrote
"93 + 51" for "What is the product of 93 and 51?").
"""

import re

import numpy as np

from lmlab.tools.calculator import calculate

QUESTION = re.compile(r"What is (\d+) ([-+*]) (\d+)\?")  # the drills' own phrasing (lmlab.data.tasks)
TRAIN_PHRASINGS = {
    "+": ["What is {a} plus {b}?", "Add {a} and {b}.", "Compute {a} + {b}.", "Calculate {a} + {b}.",
          "What do you get if you add {a} and {b}?", "Find the sum of {a} and {b}."],
    "-": ["What is {a} minus {b}?", "Subtract {b} from {a}.", "Compute {a} - {b}.", "Calculate {a} - {b}.",
          "Find the difference between {a} and {b}."],
    "*": ["What is {a} times {b}?", "Multiply {a} by {b}.", "Compute {a} * {b}.", "Calculate {a} * {b}.",
          "Find the product of {a} and {b}."],
}  # fmt: skip
TEST_PHRASINGS = {
    "+": ["What is the sum of {a} and {b}?", "How much is {a} plus {b}?", "Please work out {a} + {b}."],
    "-": ["What is the difference between {a} and {b}?", "How much is {a} minus {b}?"],
    "*": ["What is the product of {a} and {b}?", "How much is {a} times {b}?"],
}
REPHRASED = 0.5  # share of the tool conversations asked in a TRAIN_PHRASINGS phrasing instead of the drill's own


def operands(prompt: str) -> tuple[str, str, str]:
    """(a, op, b) of a drill's question "What is a op b?"."""
    match = QUESTION.fullmatch(prompt)
    if match is None:
        raise ValueError(f"not an arithmetic drill question: {prompt!r}")
    return match.group(1), match.group(2), match.group(3)


def tool_conversation(prompt: str, answer: str, rng: np.random.Generator | None) -> list[dict]:
    """A drill's (prompt, answer) as a conversation answered through the calculator, rephrased a share REPHRASED of
    the time (never without an rng: the held-out conversations of the validation loss)."""
    a, op, b = operands(prompt)
    if rng is not None and rng.random() < REPHRASED:
        phrasings = TRAIN_PHRASINGS[op]
        prompt = phrasings[int(rng.integers(len(phrasings)))].format(a=a, b=b)
    expression = f"{a} {op} {b}"
    result = calculate(expression)
    assert result == answer, (prompt, result, answer)  # the drill and the tool agree
    return [
        {"role": "user", "content": prompt},
        {"role": "assistant", "content": "", "call": expression},
        {"role": "tool", "content": result},
        {"role": "assistant", "content": answer},
    ]


def rephrase_test(prompt: str, k: int) -> str:
    """A held-out drill question in the k-th held-out phrasing of its operation (cycling)."""
    a, op, b = operands(prompt)
    phrasings = TEST_PHRASINGS[op]
    return phrasings[k % len(phrasings)].format(a=a, b=b)
