"""Experiments that compose the stages: the default pipeline (lmlab run), the beyond-RNNs comparison, reports."""
