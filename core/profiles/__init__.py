"""Connection profiles on disk and their passwords in the OS keychain."""
