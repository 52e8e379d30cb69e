"""Stash Dedupe: find and safely remove duplicate videos and images in a Stash library."""

__version__ = "0.1.0"
