"""Seawall: an LLM API gateway between applications and providers."""

__version__ = "0.1.0"
