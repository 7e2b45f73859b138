"""Where a message is kept: the audit store, its recorder and commit thread, the recorder lock, integrity checks and export."""
