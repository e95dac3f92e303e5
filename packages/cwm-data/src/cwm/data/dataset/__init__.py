"""Trace datasets: corpora in, deduplicated, split, tokenized shards of Trace records out."""
