"""Crossing into the window's process: the broker handle (local and remote), the connection child process
and its wire format."""
