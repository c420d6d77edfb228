"""Test stand-in for VILA's ``llava`` package (see ../README.md)."""

from .entry import load

__all__ = ["load"]
