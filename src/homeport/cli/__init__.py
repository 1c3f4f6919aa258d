"""The `homeport` command: `main` parses the arguments; one module per command group, `output` for printing."""
