"""Eventscope core: the MQTT session, ingest buffer and the models kept from traffic.

Plain Python only. Nothing here may import Qt, qasync or ``gui`` (enforced by
``tests/core/test_layering.py``).
"""

__version__ = "0.1.0"
