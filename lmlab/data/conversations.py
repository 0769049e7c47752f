"""Conversations: reading them, and the chat template that turns them into tokens and a loss mask.

A conversation is a list of messages {"role": "system" | "user" | "assistant" | "tool", "content": str}.
The template, with lmlab's reserved special tokens:

    <|bos|><|system|>You are...<|end|><|user|>Hi<|end|><|assistant|>Hello!<|end|><|user|>...

(the system part only when there is a system message). The loss mask is 1 exactly on the tokens
of assistant contents and on the <|end|> that closes each assistant turn: the model learns to
answer and to stop, never to imitate the user or the template.

Tool calls (lmlab.tools: the calculator). An assistant turn may end in a call, and the tool's result is a turn of
its own, after which the assistant goes on:

    <|user|>What is 123 + 456?<|end|><|assistant|><|call|>123 + 456<|end|><|tool|>579<|end|><|assistant|>579<|end|>

The call is learned (its <|call|>, the expression and the <|end|>); the result is not (the tool wrote it). In lmlab's
messages a call is the assistant message's "call" (the expression); files and the API give it in OpenAI's form,
{"role": "assistant", "content": ..., "tool_calls": [{"type": "function", "function": {"name": "calculator",
"arguments": "{\"expression\": \"123 + 456\"}"}}]} then {"role": "tool", "content": "579"}, read by
check_messages. One call a turn. A tokenizer trained before tool use has no <|call|> and <|tool|> and refuses them.

Only the template places special tokens: a literal "<|end|>" inside a message's content is encoded as text
(lmlab.tokenizer), so neither data nor a chat user can forge a turn, a call or a tool's result.

Files: conversational JSONL ({"messages": [...]} per line), prompt/completion JSONL
({"prompt": ..., "completion": ...} per line, one user and one assistant turn), or a Hugging Face
`datasets` save_to_disk folder with either column (when `datasets` is installed).

Truncation rule: a conversation longer than the context (block_size + 1 tokens, as the targets
are the inputs shifted by one) keeps its first block_size + 1 tokens; one whose kept part holds
no assistant token is dropped, and the number dropped is reported.

Training data is rendered a chunk of conversations at a time into flat numpy arrays
(TokenizedConversations): the 100,000 built-in conversations of ~25 tokens take 8 MB there, where
rendering them all at once into Python lists took 0.55 GB.
"""

import itertools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lmlab.data.files import jsonl_records
from lmlab.errors import LmlabError
from lmlab.tokenizer import Tokenizer

ROLES = ("system", "user", "assistant", "tool")
TOOL_NAME = "calculator"  # the one tool lmlab's models call (lmlab.tools.calculator)


def check_messages(messages, where: str, require_assistant: bool = True) -> list[dict]:
    """Validate one conversation; `where` (file:line) leads every error message.

    A prompt to be answered (a preference pair's, lmlab.data.preferences) passes require_assistant=False.
    """
    if not isinstance(messages, list) or not messages:
        raise LmlabError(f'{where}: "messages" must be a non-empty list of {{"role", "content"}} objects')
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise LmlabError(f'{where}: message {i} must be an object with "role" and "content"')
        if m["role"] not in ROLES:
            expected = "expected system, user or assistant"
            raise LmlabError(f"{where}: message {i} has unknown role {m['role']!r} ({expected})")
        call = tool_call(m, i, where)
        if m["content"] is None and call is not None:  # OpenAI's assistant message that only calls
            m = {**m, "content": ""}
        if not isinstance(m["content"], str):
            raise LmlabError(f"{where}: message {i} content must be a string, got {type(m['content']).__name__}")
        if m["role"] == "system" and i != 0:
            raise LmlabError(f"{where}: message {i} is a system message; only the first message may be one")
        previous = messages[i - 1] if i else None
        called = previous is not None and previous["role"] == "assistant"
        called = called and tool_call(previous, i - 1, where) is not None
        if m["role"] == "tool" and not called:
            raise LmlabError(f"{where}: message {i} is a tool result, but message {i - 1} is not an assistant call")
        if called and m["role"] != "tool":
            raise LmlabError(f"{where}: message {i - 1} calls the {TOOL_NAME}, so message {i} must be its tool result")
    if require_assistant and not any(m["role"] == "assistant" for m in messages):
        raise LmlabError(f"{where}: the conversation has no assistant turn, so nothing to learn from")
    out = []
    for i, m in enumerate(messages):
        call = tool_call(m, i, where)
        out.append({"role": m["role"], "content": m["content"] or ""} | ({"call": call} if call is not None else {}))
    return out


def tool_call(m: dict, i: int, where: str) -> str | None:
    """The expression an assistant message calls the calculator with (lmlab's "call", or OpenAI's "tool_calls"), or
    None."""
    if m["role"] != "assistant":
        if "call" in m or m.get("tool_calls"):
            raise LmlabError(f"{where}: message {i} is a {m['role']} message; only assistant messages call tools")
        return None
    if "call" in m:
        if not isinstance(m["call"], str):
            raise LmlabError(f'{where}: message {i} "call" must be a string (the expression)')
        return m["call"]
    calls = m.get("tool_calls")
    if not calls:
        return None
    expected = f'[{{"type": "function", "function": {{"name": "{TOOL_NAME}", "arguments": {{"expression": "..."}}}}}}]'
    if not isinstance(calls, list) or len(calls) != 1:
        raise LmlabError(f"{where}: message {i} tool_calls: one call a turn in lmlab's template; expected {expected}")
    function = calls[0].get("function") if isinstance(calls[0], dict) else None
    if not isinstance(function, dict) or function.get("name") != TOOL_NAME:
        raise LmlabError(f"{where}: message {i} tool_calls: the one tool is {TOOL_NAME!r}; expected {expected}")
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            raise LmlabError(f"{where}: message {i} tool_calls: arguments is not JSON; expected {expected}") from None
    if not isinstance(arguments, dict) or not isinstance(arguments.get("expression"), str):
        raise LmlabError(f'{where}: message {i} tool_calls: arguments must be {{"expression": a string}}')
    return arguments["expression"]


def from_record(record, where: str) -> list[dict]:
    """A conversation from one JSON record in either supported format."""
    if isinstance(record, dict) and "messages" in record:
        return check_messages(record["messages"], where)
    if isinstance(record, dict) and "prompt" in record and "completion" in record:
        if not isinstance(record["prompt"], str) or not isinstance(record["completion"], str):
            raise LmlabError(f'{where}: "prompt" and "completion" must be strings')
        return [{"role": "user", "content": record["prompt"]}, {"role": "assistant", "content": record["completion"]}]
    raise LmlabError(f'{where}: expected {{"messages": [...]}} or {{"prompt": ..., "completion": ...}}')


def read_conversations(path: str | Path) -> list[list[dict]]:
    """Every conversation of a JSONL file or a `datasets` save_to_disk folder."""
    path = Path(path)
    if path.is_dir():
        return _read_hf_dataset(path)
    if not path.is_file():
        raise LmlabError(f"{path}: no such file or folder")
    conversations = [from_record(record, f"{path}:{lineno}") for lineno, record in jsonl_records(path)]
    if not conversations:
        raise LmlabError(f"{path}: the file holds no conversations (expected one JSON object per line)")
    return conversations


def _read_hf_dataset(path: Path) -> list[list[dict]]:
    return [from_record(record, f"{path}:row {i}") for i, record in enumerate(hf_dataset_rows(path, "SFT data"))]


def hf_dataset_rows(path: Path, what: str) -> Iterable[dict]:
    """The rows of a datasets save_to_disk folder (a DatasetDict's "train" split); `what` names the data in errors."""
    try:
        import datasets
    except ModuleNotFoundError:
        raise LmlabError(
            f"{path}: is a folder; {what} must be a JSONL file, or a folder written by datasets' save_to_disk, "
            "which needs the `datasets` package (pip install datasets)"
        ) from None
    try:
        ds = datasets.load_from_disk(str(path))
    except Exception as e:
        raise LmlabError(f"{path}: not a datasets save_to_disk folder ({e})") from None
    if isinstance(ds, datasets.DatasetDict):
        if "train" not in ds:
            raise LmlabError(f"{path}: a DatasetDict without a 'train' split (splits: {', '.join(ds)})")
        ds = ds["train"]
    return ds


def render(tokenizer: Tokenizer, messages: list[dict]) -> tuple[list[int], list[int]]:
    """Token ids of a whole conversation and its loss mask (1 on assistant content, calls and their <|end|>)."""
    return render_all(tokenizer, [messages])[0]


def _texts(m: dict) -> list[str]:
    return [m["content"], m["call"]] if "call" in m else [m["content"]]


def render_all(tokenizer: Tokenizer, conversations: list[list[dict]]) -> list[tuple[list[int], list[int]]]:
    """render() of many conversations, encoding all their contents in one parallel batch."""
    if not tokenizer.has_tools and any("call" in m or m["role"] == "tool" for c in conversations for m in c):
        tokenizer.require_tools("a conversation with a tool call")
    encoded = iter(tokenizer.encode_batch([t for c in conversations for m in c for t in _texts(m)]))
    return [_assemble(tokenizer, c, [[next(encoded) for _ in _texts(m)] for m in c]) for c in conversations]


def _assemble(tokenizer: Tokenizer, messages: list[dict], texts: list[list[list[int]]]) -> tuple[list[int], list[int]]:
    ids, mask = [tokenizer.special_id("<|bos|>")], [0]
    end = tokenizer.special_id("<|end|>")
    for m, (content, *call) in zip(messages, texts):
        learn = int(m["role"] == "assistant")
        body = [*content, tokenizer.special_id("<|call|>"), *call[0]] if call else content
        ids += [tokenizer.special_id(f"<|{m['role']}|>"), *body, end]
        mask += [0] + [learn] * (len(body) + 1)
    return ids, mask


def render_prompt(tokenizer: Tokenizer, messages: list[dict]) -> list[int]:
    """The ids the model continues to answer: the conversation so far, then <|assistant|>."""
    return render_prompts(tokenizer, [messages])[0]


def render_prompts(tokenizer: Tokenizer, conversations: list[list[dict]]) -> list[list[int]]:
    """render_prompt() of many conversations, encoding all their contents in one parallel batch."""
    assistant = tokenizer.special_id("<|assistant|>")
    return [ids + [assistant] for ids, _ in render_all(tokenizer, conversations)]


def truncate(ids: list[int], mask: list[int], max_tokens: int) -> tuple[list[int], list[int]] | None:
    """The module docstring's truncation rule: keep the first max_tokens; None when nothing is left to learn."""
    ids, mask = ids[:max_tokens], mask[:max_tokens]
    return (ids, mask) if any(mask[1:]) else None


RENDER_CHUNK = 4096  # conversations rendered at a time by tokenize_conversations


@dataclass
class TokenizedConversations:
    """Rendered conversations packed flat: conversation i is ids[offsets[i]:offsets[i + 1]], with its loss mask.

    A sequence of (ids, mask) numpy pairs, as render() gives lists; `rendered` and `truncated` count what
    tokenize_conversations read (the truncation rule), so dropped = rendered - len(self).
    """

    ids: np.ndarray  # (total tokens,) uint16 when the vocabulary fits, else int32
    mask: np.ndarray  # (total tokens,) uint8, 1 where the token is learned
    offsets: np.ndarray  # (n + 1,) int64
    rendered: int = 0
    truncated: int = 0

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= i < len(self):
            raise IndexError(i)
        start, end = self.offsets[i], self.offsets[i + 1]
        return self.ids[start:end], self.mask[start:end]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def dropped(self) -> int:
        return self.rendered - len(self)


def tokenize_conversations(
    tokenizer: Tokenizer, conversations: Iterable[list[dict]], max_tokens: int, chunk: int = RENDER_CHUNK
) -> TokenizedConversations:
    """render_all() and truncate() of every conversation, RENDER_CHUNK at a time, packed into flat arrays.

    Only one chunk of conversations and of their token lists is in memory at once, so `conversations`
    may be a generator of any length.
    """
    dtype = np.uint16 if tokenizer.vocab_size <= 1 << 16 else np.int32
    ids, mask, lengths = [np.zeros(0, dtype)], [np.zeros(0, np.uint8)], [np.zeros(1, np.int64)]
    rendered = truncated = 0
    conversations = iter(conversations)
    while part := list(itertools.islice(conversations, chunk)):
        full = render_all(tokenizer, part)
        kept = [pair for i, m in full if (pair := truncate(i, m, max_tokens))]
        ids.append(np.fromiter(itertools.chain.from_iterable(i for i, _ in kept), dtype))
        mask.append(np.fromiter(itertools.chain.from_iterable(m for _, m in kept), np.uint8))
        lengths.append(np.array([len(i) for i, _ in kept], np.int64))
        rendered += len(part)
        truncated += sum(len(i) > max_tokens for i, _ in full)
    offsets = np.cumsum(np.concatenate(lengths))
    return TokenizedConversations(np.concatenate(ids), np.concatenate(mask), offsets, rendered, truncated)
