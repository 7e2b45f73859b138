"""Where a message is kept: the audit store (SQLite or PostgreSQL), its recorder and commit thread, the
recorder lock, integrity checks, export, and the feed that reads it."""
