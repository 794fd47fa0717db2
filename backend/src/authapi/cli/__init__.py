"""Subcommands of `python -m authapi` beyond serving: the operator's shell tools."""
