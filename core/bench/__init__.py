"""`eventscope bench`: load generation and measurement (publishers, subscribers, request/reply)."""
