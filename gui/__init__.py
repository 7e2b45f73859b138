"""Eventscope's Qt layer: models over core objects, views, and the one thread hand-off (bridge)."""
