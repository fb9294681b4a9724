"""The installed version of Keel."""

__version__ = "0.1.0"
