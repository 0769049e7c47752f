import threading

import pytest
import torch

from lmlab.inference.engine import Engine, Request, SamplingParams
from lmlab.inference.generate import generate
from lmlab.models.config import ModelConfig
from lmlab.models.gpt import GPT


def tiny_gpt(**overrides) -> GPT:
    torch.manual_seed(0)
    cfg = dict(n_layer=2, n_head=4, n_embd=32, block_size=48, vocab_size=50, **overrides)
    model = GPT(ModelConfig(**cfg)).eval()
    with torch.no_grad():  # larger weights than the init, so greedy choices are not near-ties
        for p in model.parameters():
            p.normal_(0, 0.3)
    return model


class Collect(Request):
    def __init__(self, prompt, params):
        super().__init__(prompt, params)
        self.done = threading.Event()
        self.reason = None

    def finish(self, reason):
        self.reason = reason
        self.done.set()


def run_all(engine, requests):
    engine.start()
    try:
        for r in requests:
            engine.submit(r)
        for r in requests:
            assert r.done.wait(30)
    finally:
        engine.stop()


@pytest.mark.parametrize("pos_encoding", ["learned", "rope", "sinusoidal"])
@pytest.mark.parametrize("n_kv_head", [0, 2])
def test_batched_greedy_decoding_equals_decoding_each_request_alone(pos_encoding, n_kv_head):
    model = tiny_gpt(pos_encoding=pos_encoding, n_kv_head=n_kv_head)
    g = torch.Generator().manual_seed(1)
    prompts = [torch.randint(0, 50, (n,), generator=g).tolist() for n in (3, 11, 1, 7, 20, 5)]
    max_tokens = [12, 5, 20, 9, 16, 30]
    requests = [Collect(p, SamplingParams(temperature=0, max_tokens=m)) for p, m in zip(prompts, max_tokens)]
    # 4 slots for 6 requests: two wait for a free slot, and join mid-way through the others
    run_all(Engine(model, max_batch=4), requests)
    for p, m, r in zip(prompts, max_tokens, requests):
        alone = list(generate(model, p, m, temperature=0))
        assert r.generated == alone
        assert r.reason == "length"


def test_seeded_sampling_reproduces_and_respects_top_p_and_stop_ids():
    model = tiny_gpt()
    params = SamplingParams(temperature=1.0, top_p=0.9, max_tokens=25, seed=7)
    a, b = Collect([1, 2, 3], params), Collect([1, 2, 3], params)
    other = Collect([4, 5], SamplingParams(temperature=1.0, max_tokens=25, seed=8))
    run_all(Engine(model, max_batch=2), [a, other])
    run_all(Engine(model, max_batch=1), [b])  # alone, in another engine
    assert a.generated == b.generated and len(a.generated) == 25
    stop = a.generated[4]
    c = Collect([1, 2, 3], SamplingParams(temperature=1.0, top_p=0.9, max_tokens=25, seed=7, stop_ids=(stop,)))
    run_all(Engine(model), [c])
    first = a.generated.index(stop)
    assert c.generated == a.generated[: first + 1] and c.reason == "stop"


def test_a_request_stops_at_the_end_of_the_context():
    model = tiny_gpt()
    r = Collect(list(range(40)), SamplingParams(temperature=0, max_tokens=100))
    run_all(Engine(model), [r])
    assert r.reason == "length" and len(r.generated) == 48 - 40 + 1  # the last token needs no cache position


def test_cancelled_requests_free_their_slots_for_the_next():
    model = tiny_gpt()
    engine = Engine(model, max_batch=1)
    engine.start()
    try:
        first = Collect([1, 2], SamplingParams(temperature=0, max_tokens=10_000))
        engine.submit(first)
        first.cancel()
        assert first.done.wait(10) and first.reason == "cancelled"
        second = Collect([3, 4], SamplingParams(temperature=0, max_tokens=5))
        engine.submit(second)
        assert second.done.wait(10) and second.reason == "length" and len(second.generated) == 5
        assert engine.busy == 0
    finally:
        engine.stop()


def test_prompts_that_do_not_fit_are_refused():
    engine = Engine(tiny_gpt())
    with pytest.raises(ValueError, match="1 to 47"):
        engine.submit(Request(list(range(48)), SamplingParams()))


def test_each_row_samples_from_its_own_temperature_and_top_p_distribution():
    engine = Engine(tiny_gpt(), max_batch=3)
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]] * 3))
    settings = [SamplingParams(temperature=1.0), SamplingParams(temperature=0.5), SamplingParams(top_p=0.7)]
    for slot, params in enumerate(settings):
        engine.active[slot] = Request([1], params)
        engine.generators[slot] = torch.Generator().manual_seed(slot)
    counts = torch.zeros(3, 4)
    n = 6000
    for _ in range(n):
        counts[torch.arange(3), torch.tensor(engine._sample(logits, [0, 1, 2]))] += 1
    p = torch.tensor([0.5, 0.3, 0.15, 0.05])
    expected = torch.stack([p, p**2 / (p**2).sum(), torch.tensor([0.5, 0.3, 0, 0]) / 0.8])  # T=0.5 squares p
    assert (counts / n - expected).abs().max() < 0.025  # ~4 standard errors at n = 6000
    assert counts[2, 2:].sum() == 0  # top_p 0.7 keeps the two most likely tokens only


def test_a_batch_model_decodes_steps_of_several_rows_on_the_same_cache():
    import copy

    model = tiny_gpt(pos_encoding="rope")
    twin = copy.deepcopy(model)  # an exact copy: the shared cache must make the hand-over invisible
    calls = {"single": 0, "batch": 0}
    model.register_forward_hook(lambda *_: calls.__setitem__("single", calls["single"] + 1))
    twin.register_forward_hook(lambda *_: calls.__setitem__("batch", calls["batch"] + 1))
    prompts = [[1], [2, 3, 4], [5]]
    max_tokens = [30, 4, 12]
    requests = [Collect(p, SamplingParams(temperature=0, max_tokens=m)) for p, m in zip(prompts, max_tokens)]
    run_all(Engine(model, max_batch=3, batch_model=twin), requests)
    for p, m, r in zip(prompts, max_tokens, requests):
        assert r.generated == list(generate(model, p, m, temperature=0))
    assert calls["batch"] > 0 and calls["single"] > 0  # the lone tail of the longest request ran on the fp32 model

    bf16 = Collect([1, 2], SamplingParams(temperature=0, max_tokens=20))
    other = Collect([3], SamplingParams(temperature=0, max_tokens=20))
    run_all(Engine(model, max_batch=2, batch_model=copy.deepcopy(model).to(torch.bfloat16)), [bf16, other])
    assert len(bf16.generated) == 20 and all(0 <= t < 50 for t in bf16.generated)
