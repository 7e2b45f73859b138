"""Sparkplug B: the payload codec, the per-broker session state (aliases, seq, bdSeq) and a simulated edge node."""
