"""Translation quality: corpus BLEU (Papineni et al. 2002) and chrF (Popovic 2015), as sacrebleu computes them."""

import numpy as np
import torch

from lmlab.inference.beam_search import translate_batch


def score(hypotheses: list[str], references: list[str]) -> dict:
    """Corpus BLEU and chrF of hypotheses against one reference each."""
    import sacrebleu

    return {
        "bleu": sacrebleu.corpus_bleu(hypotheses, [references]).score,
        "chrf": sacrebleu.corpus_chrf(hypotheses, [references]).score,
    }


def scores_by_length(hypotheses: list[str], references: list[str], lengths, edges) -> list[dict]:
    """BLEU and chrF per source-length bucket, in the style of Bahdanau et al. (2015), Fig. 2.

    Bucket k holds the sentences with edges[k] <= length < edges[k + 1]; each entry is
    {"low", "high", "sentences", "bleu", "chrf"}, BLEU and chrF None for an empty bucket.
    """
    lengths = np.asarray(lengths)
    if not len(hypotheses) == len(references) == len(lengths):
        raise ValueError(f"{len(hypotheses)} hypotheses, {len(references)} references, {len(lengths)} lengths")
    out = []
    for low, high in zip(edges[:-1], edges[1:]):
        rows = np.flatnonzero((lengths >= low) & (lengths < high))
        entry = {"low": low, "high": high, "sentences": len(rows), "bleu": None, "chrf": None}
        if len(rows):
            entry.update(score([hypotheses[i] for i in rows], [references[i] for i in rows]))
        out.append(entry)
    return out


def evaluate_pairs(model, tokenizer, pairs, beam: int = 1) -> dict:
    """Translate the sources of `pairs`; BLEU and chrF against their targets, and the hypotheses."""
    with torch.no_grad():
        results = translate_batch(model, tokenizer, [p.source for p in pairs], beam)
    hypotheses = [tokenizer.decode(r.ids) for r in results]
    return {**score(hypotheses, [p.target for p in pairs]), "sentences": len(pairs), "hypotheses": hypotheses}
