"""Command-line entry points (the scripts/ files are thin wrappers around these)."""
