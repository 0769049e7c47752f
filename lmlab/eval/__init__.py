"""Measuring a model: perplexity and bits per byte, task accuracy, BLEU."""
