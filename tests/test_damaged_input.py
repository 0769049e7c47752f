"""Damaged input a user might feed lmlab (binary or broken YAML, bytes that are not UTF-8, nan settings,
byte order marks) gives one clear line naming where, or is read as meant; nothing is touched."""

import io
import json
import random
import shutil

import pytest
from test_cli import folder_digest, run_error

from lmlab.cli import main
from lmlab.inference.chat import ChatSession
from lmlab.tokenizer import Tokenizer

TINY = ["--preset", "tiny", "--no-progress", "--dtype", "float32", "--max-iters", "4"]
BOM = "\ufeff"
LINES = [f"{name} {i}:{j} the word of the verse number {i * j}." for i in range(1, 30) for j in range(1, 12)
         for name in ("Genesis", "John")]  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny run pre-trained through the CLI on a JSONL corpus that starts with a byte order mark.

    Module-scoped, so conftest's per-test token cache is not set up yet: the run gets its own --cache-dir.
    """
    root = tmp_path_factory.mktemp("damaged")
    corpus = root / "corpus.jsonl"
    corpus.write_text(BOM + "".join(json.dumps({"text": line}) + "\n" for line in LINES), encoding="utf-8")
    args = ["pretrain", *TINY, "--data", str(corpus), "--cache-dir", str(root / "cache"), "--out", str(root / "run")]
    assert main(args) == 0
    return root / "run"


def test_a_jsonl_corpus_starting_with_a_bom_trains(run):
    assert (run / "model.safetensors").is_file()


def test_a_bom_at_the_start_of_a_text_corpus_is_not_a_token(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(BOM + "\n".join(LINES), encoding="utf-8")
    assert main(["pretrain", *TINY, "--data", str(corpus), "--out", str(tmp_path / "r")]) == 0
    vocab = Tokenizer.load(tmp_path / "r" / "tokenizer.json").hf.get_vocab()
    assert "G" in vocab and BOM not in vocab


GARBAGE = [
    (random.Random(0).randbytes(64), ":1:1: not UTF-8 text (invalid byte 0x"),
    ("lr: 0.1\n# café\n".encode("latin-1"), ":2:6: not UTF-8 text (invalid byte 0xe9; expected a YAML file)"),
    ("lr: 0.1\n".encode("utf-16"), ":1:1: not UTF-8 text (invalid byte 0xff; expected a YAML file)"),
    (b"lr: 0.1\x00\x01\n", ":1:8: not valid YAML (character U+0000: special characters are not allowed)"),
]


@pytest.mark.parametrize("content, message", GARBAGE, ids=["random", "latin-1", "utf-16", "control"])
def test_binary_config_file_is_one_line_naming_the_file(tmp_path, capsys, content, message):
    cfg = tmp_path / "c.yaml"
    cfg.write_bytes(content)
    err = run_error(["pretrain", *TINY, "--config", str(cfg), "--out", str(tmp_path / "out")], capsys)
    assert err.startswith(f"lmlab: error: {cfg}{message}")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("content, message", GARBAGE, ids=["random", "latin-1", "utf-16", "control"])
def test_damaged_run_config_is_one_line_naming_it_and_the_run_is_untouched(run, tmp_path, capsys, content, message):
    damaged = shutil.copytree(run, tmp_path / "run")
    (damaged / "config.yaml").write_bytes(content)
    before = folder_digest(damaged)
    assert run_error(["sample", str(damaged)], capsys).startswith(f"lmlab: error: {damaged / 'config.yaml'}{message}")
    assert run_error(["chat", str(damaged)], capsys).startswith(f"lmlab: error: {damaged / 'config.yaml'}{message}")
    assert folder_digest(damaged) == before


@pytest.mark.parametrize(
    "text, message",
    [
        ("train:\n  lr: 0.1\n  batch_size: 4: 5\n", ":3:16: not valid YAML (mapping values are not allowed here)"),
        (
            'seed: 1\nlr: "0.1\n',
            ":3:1: not valid YAML (found unexpected end of stream, while scanning a quoted scalar started at 2:5)",
        ),
        ("lr: *rate\n", ":1:5: not valid YAML (found undefined alias 'rate')"),
    ],
    ids=["mapping", "quote", "alias"],
)
def test_yaml_syntax_error_is_one_line_with_file_line_and_column(tmp_path, capsys, text, message):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    assert run_error(["pretrain", *TINY, "--config", str(cfg)], capsys) == f"lmlab: error: {cfg}{message}"


def test_a_config_file_starting_with_a_bom_is_read(tmp_path):
    from lmlab.stages.pretrain import PretrainConfig

    cfg = tmp_path / "c.yaml"
    cfg.write_text(BOM + "train:\n  max_iters: 3\n", encoding="utf-8")
    assert PretrainConfig.build("tiny", str(cfg)).train.max_iters == 3


@pytest.mark.parametrize(
    "command, flag, value, message",
    [
        ("sample", "--temperature", "nan", "temperature must be a finite number >= 0 (0 is greedy), got nan"),
        ("sample", "--temperature", "inf", "temperature must be a finite number >= 0 (0 is greedy), got inf"),
        ("sample", "--temperature", "-0.5", "temperature must be a finite number >= 0 (0 is greedy), got -0.5"),
        ("sample", "--top-p", "nan", "top_p must be in (0, 1], got nan"),
        ("sample", "--top-p", "inf", "top_p must be in (0, 1], got inf"),
        ("sample", "--top-p", "0", "top_p must be in (0, 1], got 0.0"),
        ("sample", "--top-p", "1.5", "top_p must be in (0, 1], got 1.5"),
        ("sample", "--top-k", "-1", "top_k must be >= 0 (0 keeps every token), got -1"),
        ("chat", "--temperature", "nan", "temperature must be a finite number >= 0 (0 is greedy), got nan"),
        ("chat", "--temperature", "-inf", "temperature must be a finite number >= 0 (0 is greedy), got -inf"),
        ("chat", "--temperature", "-1", "temperature must be a finite number >= 0 (0 is greedy), got -1.0"),
        ("chat", "--top-k", "-3", "top_k must be >= 0 (0 keeps every token), got -3"),
    ],
)
def test_sampling_settings_that_are_not_finite_or_out_of_range_are_one_line(
    run, monkeypatch, capsys, command, flag, value, message
):
    monkeypatch.setattr("sys.stdin", io.StringIO("hi\n"))
    assert run_error([command, str(run), f"{flag}={value}"], capsys) == f"lmlab: error: {message}"


def test_sampling_settings_at_the_edges_of_their_ranges_are_accepted(run, capsys):
    args = ["sample", str(run), "--temperature", "0", "--top-p", "1", "--top-k", "0", "--max-new-tokens", "3"]
    assert main(args) == 0
    assert main(["sample", str(run), "--top-p", "1e-9", "--max-new-tokens", "3", "--seed", "0"]) == 0


def test_chat_replaces_bytes_that_are_not_utf8_says_so_once_and_keeps_chatting(run, monkeypatch, capsys):
    said, reply = [], ChatSession.reply

    def recorded_reply(self, text):
        said.append(text)
        return reply(self, text)

    monkeypatch.setattr(ChatSession, "reply", recorded_reply)
    piped = b"caf\xe9?\n/temperature nan\nna\xefve \xff\nhello\n/quit\nnever read\n"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(piped), encoding="utf-8"))
    capsys.readouterr()
    assert main(["chat", str(run), "--max-new-tokens", "3", "--seed", "0"]) == 0
    err = capsys.readouterr().err
    assert said == ["caf\ufffd?", "na\ufffdve \ufffd", "hello"]
    assert err.count("(input was not UTF-8 text; invalid bytes replaced)") == 1
    assert "temperature must be a finite number >= 0 (0 is greedy), got nan; the temperature stays 0.7)" in err
