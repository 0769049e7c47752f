import numpy as np
import pytest
import torch

# Tiny models gain nothing from a second thread, and on a loaded 2-core machine two threads per
# test process oversubscribe the cores (a 2 ms step becomes ~1 s). Subprocess tests set OMP_NUM_THREADS=1.
torch.set_num_threads(1)


@pytest.fixture(autouse=True, scope="session")
def _own_cache(tmp_path_factory):
    """The test session has its own token cache (module fixtures included): tests never see a user's cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LMLAB_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        yield


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def text_file(tmp_path):
    """A small corpus with structure a tiny model can learn."""
    lines = [
        f"{name} {i}:{j} the word of the verse number {i * j}.\n"
        for i in range(1, 30)
        for j in range(1, 20)
        for name in ("Genesis", "John")
    ]
    path = tmp_path / "corpus.txt"
    path.write_text("".join(lines))
    return path


@pytest.fixture(scope="session")
def sentiment_policy(tmp_path_factory):
    """A tiny char GPT (64-token context, fp32) that ends short lines with good, bad, happy or sad: the sentiment judge
    (VADER) scores its continuations of any prompt, so PPO and GRPO have a reward they can raise in seconds."""
    from lmlab.stages.pretrain import PretrainConfig, pretrain

    root = tmp_path_factory.mktemp("sentiment-policy")
    rng = np.random.default_rng(0)
    words = "the and of to in that he shall unto for his lord they be is him them not".split()
    ends = ["good.", "bad.", "happy.", "sad."]
    lines = [" ".join(rng.choice(words, rng.integers(2, 6))) + " " + rng.choice(ends) + "\n" for _ in range(4000)]
    (root / "corpus.txt").write_text("".join(lines))
    overrides = dict(data=str(root / "corpus.txt"), max_iters=300, batch_size=16, block_size=64, dtype="float32",
                     progress=False)  # fmt: skip
    return pretrain(PretrainConfig.build("tiny", overrides=overrides), out=root / "pre")
