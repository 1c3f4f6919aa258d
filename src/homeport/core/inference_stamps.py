"""The keys that a transform job's DataCaptureConfig GenerateInferenceId adds to each JSON output record (a CSV record
gets the same two values as its last columns): written by batch transform, read back by the analyzer to join ground
truth on."""

ID_KEY = "SageMakerInferenceId"
TIME_KEY = "SageMakerInferenceTime"
