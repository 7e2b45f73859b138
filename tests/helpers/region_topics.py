"""``REGION_TOPICS``: topics for a ``+/hello/request`` stream limited to us-east and eu-west, each with its fate."""

REGION_TOPICS = [
    "us-east/hello/request",  # match
    "eu-west/hello/request",  # match
    "ap-south/hello/request",  # excluded by region selection
    "us-east/hello/request/extra",  # no match: one level too many
    "us-east/other/request",  # no match
    "$sys/hello/request",  # no match: a leading wildcard never matches $-topics
]
