import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lmlab.data.corpus import _read_utf8_blocks, bible_verses, documents, read_documents
from lmlab.data.tokens import prepare_data, prepare_tokenizer, random_batch
from lmlab.errors import LmlabError
from lmlab.tokenizer import train_char


def _texts(source):
    return ["".join(doc) for doc in documents(str(source))]


def test_builtin_corpus_has_the_whole_bible_with_references():
    verses = bible_verses("web")
    assert len(verses) > 31000
    john = {v.reference: v.text for v in verses if v.book == "John"}
    assert john["John 3:16"].startswith("For God so loved the world")


def test_reads_txt_folder_jsonl_and_parquet(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("alpha\n")
    (tmp_path / "d" / "b.md").write_text("# beta\n")
    (tmp_path / "d" / "skip.bin").write_bytes(b"\x00")
    assert _texts(tmp_path / "d") == ["alpha\n", "# beta\n"]
    (tmp_path / "x.jsonl").write_text('{"text": "one"}\n\n{"text": "two", "id": 3}\n')
    assert _texts(tmp_path / "x.jsonl") == ["one", "two"]
    pq.write_table(pa.table({"text": ["p", "q"], "n": [1, 2]}), tmp_path / "x.parquet")
    assert _texts(tmp_path / "x.parquet") == ["p", "q"]


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("empty.txt", b"", "empty.txt: the file is empty"),
        ("latin1.txt", "ok\ncaf\xe9".encode("latin-1"), "not UTF-8 text (invalid byte 0xe9 at byte offset 6)"),
        ("bad.jsonl", b'{"text": "fine"}\n{"text": oops}\n', "bad.jsonl:2: not valid JSON"),
        (
            "notext.jsonl",
            b'{"text": "fine"}\n{"body": "x"}\n',
            'notext.jsonl:2: expected an object with a string field "text"',
        ),
        ("data.csv", b"a,b\n", "unsupported file type '.csv'"),
    ],
)
def test_bad_input_names_the_file_and_what_was_expected(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(LmlabError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        _texts(path)


def test_missing_path_and_parquet_without_text_column(tmp_path):
    with pytest.raises(LmlabError, match="no such file or folder"):
        list(read_documents(tmp_path / "nope.txt"))
    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "y.parquet")
    with pytest.raises(LmlabError, match=r"no 'text' column \(columns: body\)"):
        _texts(tmp_path / "y.parquet")


def test_token_cache_is_uint16_memmap_split_last_fraction_and_reused(text_file, tmp_path):
    tok = prepare_tokenizer(str(text_file), "char", 0, tmp_path)
    data = prepare_data(str(text_file), tok, 0.1, tmp_path, progress=False)
    assert isinstance(data.train, np.memmap) and data.train.dtype == np.uint16
    stream = tok.encode(text_file.read_text()) + [tok.eos_id]
    n_val = int(len(stream) * 0.1)
    assert data.train.tolist() == stream[: len(stream) - n_val]
    assert data.val.tolist() == stream[len(stream) - n_val :]
    assert abs(data.bytes_per_token["val"] - 1.0) < 1e-9  # ASCII text, char tokens
    mtime = (data.path / "tokens.bin").stat().st_mtime_ns
    again = prepare_data(str(text_file), tok, 0.1, tmp_path, progress=False)
    assert again.path == data.path and (again.path / "tokens.bin").stat().st_mtime_ns == mtime
    text_file.write_text(text_file.read_text() + "more\n")  # changed content: a new cache entry
    assert prepare_data(str(text_file), tok, 0.1, tmp_path, progress=False).path != data.path


def test_vocabularies_past_uint16_use_uint32(tmp_path):
    texts = "".join(chr(0x10000 + i) for i in range(70000 - 300)) + "\n"  # past the BMP: no surrogates
    (tmp_path / "wide.txt").write_text(texts)
    tok = train_char([texts])
    assert tok.vocab_size > 65536
    data = prepare_data(str(tmp_path / "wide.txt"), tok, 0.1, tmp_path, progress=False)
    assert data.train.dtype == np.uint32


def test_random_batches_are_a_pure_function_of_seed_and_index():
    split = np.arange(1000, dtype=np.uint16)
    x1, y1 = random_batch(split, 7, 4, 16, seed=3)
    x2, _ = random_batch(split, 7, 4, 16, seed=3)
    x3, _ = random_batch(split, 8, 4, 16, seed=3)
    assert (x1 == x2).all() and not (x1 == x3).all()
    assert (y1[:, :-1] == x1[:, 1:]).all() and (y1[:, -1] == x1[:, -1] + 1).all()


def test_jsonl_documents_are_separated_by_eos(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text("\n".join(json.dumps({"text": t}) for t in ["ab", "cd"] * 20))
    tok = train_char(["abcd"])
    data = prepare_data(str(f), tok, 0.1, tmp_path, progress=False)
    assert data.train[:6].tolist() == tok.encode("ab") + [tok.eos_id] + tok.encode("cd") + [tok.eos_id]


def test_a_leading_byte_order_mark_is_not_text_in_txt_and_jsonl_files(tmp_path):
    bom = "\ufeff"
    (tmp_path / "a.txt").write_text(bom + "alpha\nbe" + bom + "ta\n", encoding="utf-8")
    assert _texts(tmp_path / "a.txt") == ["alpha\nbe" + bom + "ta\n"]  # only the mark at the start is dropped
    assert "".join(_read_utf8_blocks(tmp_path / "a.txt", block_size=1)) == "alpha\nbe" + bom + "ta\n"
    (tmp_path / "only.txt").write_text(bom + "\n", encoding="utf-8")
    with pytest.raises(LmlabError, match="only.txt: the file is empty"):
        _texts(tmp_path / "only.txt")
    (tmp_path / "x.jsonl").write_text(bom + '{"text": "one"}\n{"text": "two"}\n', encoding="utf-8")
    assert _texts(tmp_path / "x.jsonl") == ["one", "two"]
