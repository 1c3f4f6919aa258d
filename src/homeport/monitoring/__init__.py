"""Model Monitor's analyzer, as pure code: data sets read as SageMaker's analyzer reads them, their statistics and
suggested constraints in SageMaker's formats (`statistics.json`, `constraints.json`)."""

METRICS_DIR = "HOMEPORT_METRICS_DIR"  # the environment variable naming where an execution leaves its metrics
