"""mlrelease: from a researcher's handoff to a safe production model."""

__version__ = "0.1.0"
