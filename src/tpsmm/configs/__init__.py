"""Bundled presets: the authors' configurations as YAML files."""
