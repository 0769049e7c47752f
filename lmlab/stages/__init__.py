"""The training stages, each a recipe over the one training loop in lmlab.trainer."""
