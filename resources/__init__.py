"""Files the application ships (icon, desktop entry, sample profile), read with ``importlib.resources``."""
