"""Request/reply: the correlation tracker, the replier, RTT statistics and request history."""
