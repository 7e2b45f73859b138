"""The embedded default: a broker started on loopback, simulated multi-region traffic and a replier."""
