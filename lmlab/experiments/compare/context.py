"""Section 5, a word in context: the cosine similarity of *bank*'s hidden state in two sentences, by layer."""

from lmlab.experiments.compare.settings import LM_ARCHS
from lmlab.runs import load_run


def context_curves(lm: dict, device) -> dict:
    """*bank* in the two sentences of BANK, by layer, for each trained language model (arch -> ContextSimilarity)."""
    from lmlab.inspect.context import BANK, context_similarity

    curves = {}
    for arch in LM_ARCHS:
        model, tokenizer, _ = load_run(lm["main"][arch], device)
        curves[arch] = context_similarity(model, tokenizer, *BANK)
    return curves


def context_section(context: dict) -> list[str]:
    from lmlab.inspect.context import BANK

    word, (first, second) = BANK
    depth = max(len(c.layers) for c in context.values())
    gpt = context["gpt"]
    header = ["model", "embedding"] + [f"layer {i}" for i in range(1, depth)]
    lines = [
        "## 5. A word in context", "",
        "**Claim.** A language model's representation of a word depends on its context, and more so with depth.", "",
        f"Cosine similarity of the hidden state of *{word}* in {first!r} and in {second!r}, at the embedding and "
        f"after each layer, at the word's last token ({gpt.word_tokens[0][-1]!r} of {' '.join(gpt.word_tokens[0])}: "
        "the one that has read the whole word). How fast it falls is how much each layer mixes in the words "
        f"around. {gpt.position_note} {context['rnn'].position_note}", "",
        "| " + " | ".join(header) + " |", "|---" * len(header) + "|",
    ]  # fmt: skip
    for a in LM_ARCHS:
        sims = [f"{s:.4f}" for s in context[a].similarity[:, 0].tolist()]
        lines.append(f"| {a} | " + " | ".join(sims + [""] * (depth - len(sims))) + " |")
    sims = gpt.similarity[:, 0].tolist()
    word = "supports" if sims[-1] < sims[0] - 0.02 else "does not support"
    lines += ["", "![bank in two contexts](context.png)", "",
              f"The GPT's similarity goes from {sims[0]:.3f} at the embedding to {sims[-1]:.3f} after its last layer. "
              f"**Verdict:** the measurement {word} the claim.", ""]  # fmt: skip
    return lines
