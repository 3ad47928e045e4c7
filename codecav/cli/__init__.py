"""The command line: every `codecav` command; the only place that prints and exits."""
