"""Where a message is applied: the tick that drains every broker's buffer into the shared models, and its change summary."""
