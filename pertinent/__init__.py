"""pertinent: a self-hosted personalization engine that speaks Amazon Personalize's wire protocol."""

from pertinent.version import __version__

__all__ = ["__version__"]
