"""Transport-agnostic logic, one module per noun. The API, the CLI and the tests all call these."""
