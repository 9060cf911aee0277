"""lmprep: make a local LLM provider ready before something needs it."""

__version__ = "0.1.0"
