"""Replay from the audit: recorded traffic sent again to any broker, its replies compared with the recorded ones."""
