"""Generation with the tool in the loop: the model writes, and when it ends a turn in a calculator call, the
calculator's result goes into the context as a tool turn and the model goes on (lmlab.data.conversations' template).

    <|assistant|>[text]<|call|>123 + 456<|end|>   the model's turn: a call      -> calculate("123 + 456")
    <|tool|>579<|end|><|assistant|>               written by the loop, not sampled
    579<|end|>                                    the model's answer

`ToolReply.stream` yields what a person watching would see, as events: ("text", piece) of the model's words,
("call", expression) and ("result", text) for each call; afterwards `messages` holds the assistant and tool messages
of the reply (lmlab's form) and `calls` each (expression, result). Each assistant turn gets max_new_tokens (and
CALL_TOKENS more after a <|call|>, so a short answer's budget leaves room for its expression); after MAX_CALLS calls
a further call is answered with an error result, and one more ends the reply. A model whose tokenizer has no tool
tokens (trained before tool use) never calls: the loop is then plain sampling.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from lmlab.inference.generate import CachedContext, next_token
from lmlab.tokenizer import StreamDecoder, Tokenizer
from lmlab.tools.calculator import calculate

MAX_CALLS = 4  # calls in one reply; the next gets an error result
CALL_TOKENS = 48  # a call's expression may take this many tokens past <|call|>, whatever max_new_tokens is
CALL_LIMIT = f"error: at most {MAX_CALLS} calculator calls in one reply"


def call_result(expression: str, made: int) -> str | None:
    """The tool's result for a reply's next call after `made` calls: the calculator's, the limit's error after
    MAX_CALLS, or None past that (the reply ends). The one rule of the loop, the rollouts and the server."""
    if made > MAX_CALLS:
        return None
    return calculate(expression) if made < MAX_CALLS else CALL_LIMIT


def is_error(result: str) -> bool:
    """Whether a tool result is the calculator's error (the call did not parse or could not be computed)."""
    return result.startswith("error:")


def tool_turn(tokenizer: Tokenizer, result: str) -> list[int]:
    """The ids the loop writes after a call's <|end|>: the result's turn, then <|assistant|> to go on."""
    end = tokenizer.special_id("<|end|>")
    return [tokenizer.special_id("<|tool|>"), *tokenizer.encode(result), end, tokenizer.special_id("<|assistant|>")]


def split_call(tokenizer: Tokenizer, ids: list[int]) -> tuple[list[int], list[int] | None]:
    """An assistant turn's ids (without its <|end|>) as (text ids, the call's expression ids or None)."""
    call = tokenizer.special_id("<|call|>") if tokenizer.has_tools else None
    if call is None or call not in ids:
        return ids, None
    k = ids.index(call)
    return ids[:k], ids[k + 1 :]


def last_turn(tokenizer: Tokenizer, ids: list[int]) -> list[int]:
    """A reply's ids from its last <|assistant|> on (all of them when it made no call)."""
    assistant = tokenizer.special_id("<|assistant|>")
    return ids[len(ids) - ids[::-1].index(assistant) :] if assistant in ids else ids


@dataclass
class ToolReply:
    """One reply to a rendered prompt, sampled with the calculator in the loop (the module docstring)."""

    model: object
    tokenizer: Tokenizer
    max_new_tokens: int
    temperature: float = 0.0
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None
    messages: list[dict] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The reply's last words: the content of its last assistant message."""
        return self.messages[-1]["content"] if self.messages else ""

    @torch.no_grad()
    def stream(self, prompt: list[int]) -> Iterator[tuple[str, str]]:
        model, tok = self.model, self.tokenizer
        model.eval()
        device = next(model.parameters()).device
        generator = torch.Generator(device=device)
        generator.seed() if self.seed is None else generator.manual_seed(self.seed)
        context = CachedContext(model, device) if hasattr(model, "new_cache") else None
        tokens = list(prompt)
        end, stops = tok.special_id("<|end|>"), (tok.special_id("<|end|>"), tok.eos_id)
        call = tok.special_id("<|call|>") if tok.has_tools else None
        self.messages, self.calls = [], []
        new, turn, decoder = tokens, [], StreamDecoder(tok)
        while True:
            stopped, n, limit = False, 0, self.max_new_tokens
            while n < limit:
                n += 1
                if context is not None:
                    logits = context.next_logits(new)
                else:
                    logits = model(torch.tensor([tokens[-model.config.block_size :]], device=device), last_only=True)
                    logits = logits[:, -1]
                token = int(next_token(logits, self.temperature, self.top_k, self.top_p, generator))
                tokens.append(token)
                new = [token]
                if token in stops:
                    stopped = True
                    break
                turn.append(token)
                if call is not None and call in turn:
                    if token == call:  # the words before the call are all out
                        limit = max(limit, n + CALL_TOKENS)
                        if piece := decoder.flush():
                            yield "text", piece
                    continue
                if piece := decoder.push(token):
                    yield "text", piece
            text, expression = split_call(tok, turn)
            content = tok.decode(text, skip_special_tokens=True)
            result = None  # a call whose turn ended at <|end|> gets a result; anything else is the reply's last turn
            if expression is not None and stopped and token == end:
                expression = tok.decode(expression, skip_special_tokens=True)
                result = call_result(expression, len(self.calls))
            if result is None:
                if tail := decoder.flush():
                    yield "text", tail
                self.messages.append({"role": "assistant", "content": content})
                return
            self.calls.append((expression, result))
            self.messages += [
                {"role": "assistant", "content": content, "call": expression},
                {"role": "tool", "content": result},
            ]
            yield "call", expression
            yield "result", result
            new = [token, *tool_turn(tok, result)]
            tokens += new[1:]
            turn, decoder = [], StreamDecoder(tok)

    def run(self, prompt: list[int]) -> str:
        """The whole reply at once; returns its last words (`text`)."""
        for _ in self.stream(prompt):
            pass
        return self.text
