"""The model-server process: one model instance serving the SageMaker container contract.

Started by homeport's engine as

    python -m homeport.runtime --runtime {xgboost,sklearn,toolkit} --model-dir DIR \\
        (--uds PATH | --host H --port N) [--workers N]

with the model's `Environment` in the process environment. Modules:

- `__main__`: arguments, model loading (before listening), uvicorn start.
- `server`: the raw ASGI app: `/ping`, `/invocations`, `/execution-parameters`, body limit, error → status.
- `loader`: which handler serves a model directory, per runtime.
- `xgboost_model`: the built-in XGBoost container (algorithm mode) and script-mode defaults.
- `toolkit`: user code (`inference.py`) as the SageMaker inference toolkit runs it; sklearn/toolkit runtimes.
- `batcher`: adaptive micro-batching of concurrent small requests into one model call.
- `content`: media types, Accept negotiation, CSV/LIBSVM/JSON/NPY codecs, number formatting.
- `scores`: predictions and the XGBoost container's CSV/JSON/JSON Lines encodings.
- `environment`: the SageMaker environment variables the server honours.
- `errors`: invocation errors (HTTP statuses) and load errors (exit 1 with a one-line reason).

Environment: SAGEMAKER_MAX_PAYLOAD_IN_MB, MAX_CONTENT_LENGTH, SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT,
SAGEMAKER_MODEL_SERVER_WORKERS, SAGEMAKER_PROGRAM, SAGEMAKER_SUBMIT_DIRECTORY, SAGEMAKER_BATCH,
SAGEMAKER_CONTAINER_LOG_LEVEL, HOMEPORT_MODEL_THREADS.
"""
