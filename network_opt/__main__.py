"""``python -m network_opt`` runs the command-line interface."""

from network_opt.cli import main

main()
