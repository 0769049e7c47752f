"""Translation quality: corpus BLEU (Papineni et al. 2002) and chrF (Popovic 2015), as sacrebleu computes them."""

import torch

from lmlab.inference.beam_search import translate_batch


def score(hypotheses: list[str], references: list[str]) -> dict:
    """Corpus BLEU and chrF of hypotheses against one reference each."""
    import sacrebleu

    return {
        "bleu": sacrebleu.corpus_bleu(hypotheses, [references]).score,
        "chrf": sacrebleu.corpus_chrf(hypotheses, [references]).score,
    }


def evaluate_pairs(model, tokenizer, pairs, beam: int = 1) -> dict:
    """Translate the sources of `pairs`; BLEU and chrF against their targets, and the hypotheses."""
    with torch.no_grad():
        results = translate_batch(model, tokenizer, [p.source for p in pairs], beam)
    hypotheses = [tokenizer.decode(r.ids) for r in results]
    return {**score(hypotheses, [p.target for p in pairs]), "sentences": len(pairs), "hypotheses": hypotheses}
