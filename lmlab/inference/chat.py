"""Interactive chat with a fine-tuned run: streaming replies, history kept within the context window.

Each reply is sampled (KV cache, lmlab.inference.generate) from the chat template of the whole conversation
so far. When that prompt plus room for the reply exceeds the context window, the oldest turns are
dropped, an exchange at a time (a user message and the replies, calls and results up to the next one); the system
prompt is never dropped.
A model that calls the calculator (lmlab.tools.loop) gets its result and goes on; the call shows in the reply as
"[calculator: 123 + 456 = 579]" and stays in the history as the call and its result.
Commands: /reset (forget the history), /system TEXT (set the system prompt; empty clears it),
/temperature X, /quit. Piped input (`echo hi | lmlab chat RUN`) prints only the replies; the answers to
commands and notes go to stderr then. Input bytes that are not valid text (not UTF-8, say) are replaced
with U+FFFD and the chat goes on, with a note the first time.
"""

import codecs
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from lmlab.data.conversations import render_prompt
from lmlab.errors import LmlabError
from lmlab.inference.generate import check_sampling
from lmlab.tools.loop import ToolReply

HELP = "commands: /reset, /system TEXT, /temperature X, /quit"


class ChatSession:
    def __init__(
        self,
        model,
        tokenizer,
        system: str = "",
        temperature: float = 0.7,
        top_k: int | None = 50,
        max_new_tokens: int = 128,
        seed: int | None = None,
    ):
        check_sampling(temperature, top_k)
        self.model, self.tokenizer = model, tokenizer
        self.system, self.temperature, self.top_k, self.seed = system, temperature, top_k, seed
        self.history: list[dict] = []  # user and assistant messages, oldest first
        block_size = model.config.block_size
        self.max_new_tokens = min(max_new_tokens, block_size // 2)  # room kept for the reply

    def messages(self) -> list[dict]:
        system = [{"role": "system", "content": self.system}] if self.system else []
        return system + self.history

    def prompt_ids(self) -> list[int]:
        """The prompt for the next reply, the oldest exchanges dropped until it leaves room for the reply."""
        budget = self.model.config.block_size - self.max_new_tokens
        ids = render_prompt(self.tokenizer, self.messages())
        while len(ids) > budget and len(self.history) > 1:
            # the oldest exchange: a user message and the replies (calls and results included) up to the next one
            following = next((i for i, m in enumerate(self.history[1:], 1) if m["role"] == "user"), 1)
            del self.history[:following]
            ids = render_prompt(self.tokenizer, self.messages())
        if len(ids) > budget:
            self.history.clear()
            raise LmlabError(
                f"the message is too long: {len(ids)} tokens with the system prompt, the context leaves {budget} for it"
            )
        return ids

    def reply(self, text: str) -> Iterator[str]:
        """Stream the assistant's answer to a user message, and add both to the history."""
        self.history.append({"role": "user", "content": text})
        ids = self.prompt_ids()
        reply = ToolReply(self.model, self.tokenizer, self.max_new_tokens, self.temperature, self.top_k, seed=self.seed)
        call = ""
        for kind, piece in reply.stream(ids):
            if kind == "text":
                yield piece
            elif kind == "call":
                call = piece
            else:
                yield f"[calculator: {call} = {piece}] "
        # Special tokens the model emitted mid-reply are not kept as text: the history holds what was said.
        self.history += reply.messages

    def command(self, line: str) -> str | None:
        """Run a /command; returns a message to show, or None for /quit."""
        name, _, arg = line.partition(" ")
        if name == "/quit":
            return None
        if name == "/reset":
            self.history.clear()
            return "(history cleared)"
        if name == "/system":
            self.system = arg.strip()
            return f"(system prompt {'set' if self.system else 'cleared'})"
        if name == "/temperature":
            try:
                temperature = float(arg)
                check_sampling(temperature)
            except ValueError:
                return f"(not a number: {arg!r})"
            except LmlabError as e:
                return f"({e}; the temperature stays {self.temperature})"
            self.temperature = temperature
            return f"(temperature {self.temperature})"
        return f"(unknown command {name}; {HELP})"


def read_lines(input: TextIO, encoding: str) -> Iterator[tuple[str, bool]]:
    """(line, whether bytes were replaced) for each line of input, as it is typed.

    A stream over bytes (sys.stdin) is read as bytes and decoded, bad bytes replaced with U+FFFD,
    so that a stray byte does not end the chat with a UnicodeDecodeError.
    """
    buffer = getattr(input, "buffer", None)
    if buffer is None:  # a text-only stream (io.StringIO): already decoded
        yield from ((line, False) for line in iter(input.readline, ""))
        return
    for raw in iter(buffer.readline, b""):
        try:
            yield raw.decode(encoding), False
        except UnicodeDecodeError:
            yield raw.decode(encoding, errors="replace"), True


def chat(
    run: str | Path,
    input: TextIO | None = None,
    output: TextIO | None = None,
    system: str = "",
    temperature: float = 0.7,
    top_k: int | None = 50,
    max_new_tokens: int = 128,
    seed: int | None = None,
    device="auto",
):
    """Chat with a run over input/output; interactive with prompts on a terminal, plain when piped."""
    from lmlab.device import pick_device
    from lmlab.runs import load_run

    input, output = input or sys.stdin, output or sys.stdout
    model, tokenizer, record = load_run(run, pick_device(device))
    session = ChatSession(model, tokenizer, system, temperature, top_k, max_new_tokens, seed)
    interactive = input.isatty()
    notes = output if interactive else sys.stderr  # piped, stdout holds the replies alone
    if interactive:
        if record.get("stage") == "pretrain":  # every later stage starts from a chat-tuned model
            output.write("(note: this is a pre-trained run, not fine-tuned to chat)\n")
        output.write(f"chatting with {run}; {HELP}\n")
    encoding = codecs.lookup(getattr(input, "encoding", None) or "utf-8").name  # "utf-8" on most systems
    lines, warned = read_lines(input, encoding), False
    while True:
        if interactive:
            output.write("> ")
            output.flush()
        line, replaced = next(lines, ("", False))
        if not line:
            break
        if replaced and not warned:
            notes.write(f"(input was not {encoding.upper()} text; invalid bytes replaced)\n")
            warned = True
        line = line.strip()
        if not line:
            continue
        if line.startswith("/"):
            message = session.command(line)
            if message is None:
                break
            notes.write(message + "\n")
            continue
        try:
            for piece in session.reply(line):
                output.write(piece)
                output.flush()
        except LmlabError as e:
            output.write(f"({e})")
        output.write("\n")
