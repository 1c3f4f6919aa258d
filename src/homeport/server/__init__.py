"""The server process: `serve` wires settings, store, engine, controllers, services and API into one process;
`process` starts one as a child (for the worked example, the tests and the benchmarks)."""
