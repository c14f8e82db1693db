"""Generators of the reference pages docs/cli.md and docs/instance-format.md (run with ``python -m``)."""
