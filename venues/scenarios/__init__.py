"""Bundled scenario files (TOML), read with importlib.resources."""
