"""nanoGPT (the peer in ../shared/peers/nanogpt) run from a scratch folder, for side-by-side benchmarks.

Its code is never copied into lmlab: the scratch folder holds symlinks to its train.py, model.py,
configurator.py and config/, the data its train.py reads from data/<dataset>/ (relative to the working
directory), and two short scripts written here at run time:

- `seeded_train.py` runs train.py unchanged (runpy, same command-line flags) after making its one seeding
  call, torch.manual_seed(1337), seed with the round's seed instead: train.py has no seed option
  (its configurator rejects unknown keys). With seed 1337 the run is exactly the README recipe.
- `full_val_loss.py` loads the checkpoint train.py saved with nanoGPT's own model code and returns the
  mean loss over every non-overlapping window of val.bin, the windows lmlab.eval.perplexity.full_loss reads.
"""

import json
import pickle
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DATASET = "shakespeare_char"

# nanoGPT's CPU recipe, as its README gives it (../shared/peers/README.md).
CPU_RECIPE = [
    "config/train_shakespeare_char.py",
    "--device=cpu",
    "--compile=False",
    "--eval_iters=20",
    "--log_interval=1",
    "--block_size=64",
    "--batch_size=12",
    "--n_layer=4",
    "--n_head=4",
    "--n_embd=128",
    "--max_iters=2000",
    "--lr_decay_iters=2000",
    "--dropout=0.0",
]
EVAL_INTERVAL = 250  # config/train_shakespeare_char.py's: checkpoints are written only at evaluations

SEEDED_TRAIN = '''"""nanoGPT's train.py, unchanged, with its torch.manual_seed(1337) seeded by argv[1] instead."""
import runpy
import sys

import torch

seed, _manual_seed = int(sys.argv[1]), torch.manual_seed
torch.manual_seed = lambda _: _manual_seed(seed)
sys.argv = ["train.py", *sys.argv[2:]]
runpy.run_path("train.py", run_name="__main__")
'''

FULL_VAL_LOSS = '''"""Mean loss of a nanoGPT checkpoint over every non-overlapping window of a split (its own model)."""
import json
import sys

import numpy as np
import torch

from model import GPT, GPTConfig

ckpt_path, bin_path, batch_size = sys.argv[1], sys.argv[2], int(sys.argv[3])
ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
model = GPT(GPTConfig(**ckpt["model_args"]))
model.load_state_dict({k.removeprefix("_orig_mod."): v for k, v in ckpt["model"].items()})
model.eval()
split = np.memmap(bin_path, dtype=np.uint16, mode="r")
T = model.config.block_size
starts = np.arange(0, len(split) - 1 - T + 1, T)  # as lmlab.eval.perplexity.full_loss
total, count = 0.0, 0
with torch.no_grad():
    for i in range(0, len(starts), batch_size):
        s = starts[i : i + batch_size]
        window = torch.from_numpy(split[s[:, None] + np.arange(T + 1)].astype(np.int64))
        x, y = window[:, :-1].contiguous(), window[:, 1:].contiguous()  # (B, T) each
        _, loss = model(x, y)  # the mean over the B*T targets
        total, count = total + float(loss) * y.numel(), count + y.numel()
print(json.dumps({"val_loss": total / count, "tokens": count, "iter_num": int(ckpt["iter_num"])}))
'''


def prepare_data(train_text: str, val_text: str, folder: Path) -> dict:
    """train.bin, val.bin (uint16 character ids) and meta.pkl in folder/data/shakespeare_char, as nanoGPT's
    data/shakespeare_char/prepare.py makes them (characters sorted), from text given here instead of downloaded."""
    chars = sorted(set(train_text + val_text))
    stoi = {ch: i for i, ch in enumerate(chars)}
    itos = dict(enumerate(chars))
    data = folder / "data" / DATASET
    data.mkdir(parents=True, exist_ok=True)
    for name, text in (("train", train_text), ("val", val_text)):
        np.array([stoi[c] for c in text], dtype=np.uint16).tofile(data / f"{name}.bin")
    with open(data / "meta.pkl", "wb") as f:
        pickle.dump({"vocab_size": len(chars), "itos": itos, "stoi": stoi}, f)
    return {"vocab_size": len(chars), "train_tokens": len(train_text), "val_tokens": len(val_text)}


def setup_workdir(nanogpt: Path, folder: Path):
    """Symlinks to nanoGPT's code and the two helper scripts, in the folder its train.py will run from."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("train.py", "model.py", "configurator.py", "config"):
        link = folder / name
        if not link.exists():
            link.symlink_to((nanogpt / name).resolve())
    (folder / "seeded_train.py").write_text(SEEDED_TRAIN)
    (folder / "full_val_loss.py").write_text(FULL_VAL_LOSS)


def train_command(out_dir: Path, seed: int, max_iters: int = 0) -> list[str]:
    """The CPU recipe, writing its final model to out_dir (always_save_checkpoint: a checkpoint at every
    evaluation, so the last is the model after max_iters steps); max_iters overrides 2000 for smoke runs."""
    flags = [*CPU_RECIPE, f"--out_dir={out_dir}", "--always_save_checkpoint=True"]
    if max_iters:
        flags += [f"--max_iters={max_iters}", f"--lr_decay_iters={max_iters}"]
        if max_iters % EVAL_INTERVAL:
            flags.append(f"--eval_interval={max_iters}")  # else no checkpoint holds the final model
    return [sys.executable, "seeded_train.py", str(seed), *flags]


def train(folder: Path, out_dir: Path, seed: int, max_iters: int = 0) -> dict:
    """Run train.py in a subprocess; its wall clock runs from process start to exit, imports included."""
    command = train_command(out_dir, seed, max_iters)
    log = out_dir.with_suffix(".log")
    t = time.perf_counter()
    with open(log, "w") as f:
        done = subprocess.run(command, cwd=folder, stdout=f, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - t
    if done.returncode != 0:
        raise RuntimeError(f"nanoGPT failed (exit {done.returncode}); the end of {log}:\n{tail(log)}")
    return {"wall_s": seconds, "command": " ".join(command), "cwd": str(folder), "log": str(log)}


def full_val_loss(folder: Path, out_dir: Path, batch_size: int = 16) -> dict:
    """val_loss, tokens and iter_num of out_dir/ckpt.pt over the whole of data/shakespeare_char/val.bin."""
    command = [
        sys.executable,
        "full_val_loss.py",
        str(out_dir / "ckpt.pt"),
        str(Path("data") / DATASET / "val.bin"),
        str(batch_size),
    ]
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"nanoGPT's evaluation failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def tail(path: Path, lines: int = 30) -> str:
    return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])


def default_path() -> Path:
    """../shared/peers/nanogpt beside the repository, where the peers live."""
    return Path(__file__).resolve().parents[2] / "shared" / "peers" / "nanogpt"


def is_nanogpt(path: Path) -> bool:
    return all((path / name).exists() for name in ("train.py", "model.py", "configurator.py", "config"))
