"""The shipped search spaces (``python -m raysearch.tune NAME`` reads ``NAME.yaml`` here).

pyproject.toml installs this folder as the package ``raysearch.search_spaces``, so the YAML files
ship as its package data; this file only makes it a package (an editable install needs one).
"""
