"""The reward-model methods raysearch trains, one folder each, all with the same file names.

``raysearch.methods.registry`` lists them; ``raysearch.methods.base.Method`` is what each one
provides. See ``docs/architecture.md`` for where every concept lives.
"""
