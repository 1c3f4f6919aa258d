# %% [markdown]
# # The chapter's notebook: Abalone with the SageMaker Python SDK, on homeport
#
# The deployment chapter's flow (Figures 7.2-7.18) exactly as a SageMaker user writes it: a `Session`, the data
# one-hot encoded and split, uploaded to S3, the built-in XGBoost image, `Estimator.fit` on train and validation
# channels, a batch transform with its defaults, actual against predicted, a real-time endpoint, an
# asynchronous one. Nothing below is homeport's: run it against AWS and it does the same.
#
# To run it against homeport, set only the environment (`python examples/chapter/run.py` does this for you):
#
#     AWS_ENDPOINT_URL=http://127.0.0.1:8080   AWS_ACCESS_KEY_ID=…   AWS_SECRET_ACCESS_KEY=…
#     AWS_DEFAULT_REGION=us-east-1   CHAPTER_ROLE=arn:aws:iam::000000000000:role/any   CHAPTER_BUCKET=chapter
#
# In AWS, `CHAPTER_ROLE` is a role SageMaker may assume, and `CHAPTER_BUCKET` can be left out (the SDK then
# makes `sagemaker-<region>-<account>`; homeport has no STS account lookup for the SDK, so name one).

# %%
import os
from pathlib import Path

import boto3
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import sagemaker
from sagemaker import image_uris
from sagemaker.async_inference import AsyncInferenceConfig, WaiterConfig
from sagemaker.estimator import Estimator
from sagemaker.inputs import TrainingInput
from sagemaker.serializers import CSVSerializer

HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
DATA = HERE.parent / "abalone" / "data" / "abalone.data"  # UCI Abalone, CC BY 4.0: see that folder's README
OUTPUT = Path(os.environ.get("CHAPTER_OUTPUT", HERE / "output"))
OUTPUT.mkdir(parents=True, exist_ok=True)

session = sagemaker.Session(default_bucket=os.environ.get("CHAPTER_BUCKET"))
role = os.environ["CHAPTER_ROLE"]
region = session.boto_region_name
bucket = session.default_bucket()
prefix = "abalone-chapter"
print(f"region {region}, bucket {bucket}")

# %% [markdown]
# ## The data: one-hot encode `Sex`, put the label (`Rings`) first, split 70/20/10

# %%
columns = [
    "Sex",
    "Length",
    "Diameter",
    "Height",
    "Whole_weight",
    "Shucked_weight",
    "Viscera_weight",
    "Shell_weight",
    "Rings",
]
abalone = pd.read_csv(DATA, header=None, names=columns)
abalone = pd.get_dummies(abalone, columns=["Sex"], dtype=int)
abalone = abalone[["Rings"] + [c for c in abalone.columns if c != "Rings"]]

shuffled = abalone.sample(frac=1, random_state=42)
cut_train, cut_validation = int(0.7 * len(shuffled)), int(0.9 * len(shuffled))
train, validation, test = shuffled[:cut_train], shuffled[cut_train:cut_validation], shuffled[cut_validation:]
print(f"train {len(train)}, validation {len(validation)}, test {len(test)} rows")

train.to_csv(OUTPUT / "train.csv", header=False, index=False)
validation.to_csv(OUTPUT / "validation.csv", header=False, index=False)
test.drop(columns=["Rings"]).to_csv(OUTPUT / "test.csv", header=False, index=False)

# %% [markdown]
# ## Upload to S3

# %%
train_uri = session.upload_data(str(OUTPUT / "train.csv"), bucket=bucket, key_prefix=f"{prefix}/train")
validation_uri = session.upload_data(str(OUTPUT / "validation.csv"), bucket=bucket, key_prefix=f"{prefix}/validation")
test_uri = session.upload_data(str(OUTPUT / "test.csv"), bucket=bucket, key_prefix=f"{prefix}/test")

# %% [markdown]
# ## Train with the built-in XGBoost algorithm

# %%
container = image_uris.retrieve("xgboost", region, "1.7-1")
xgb = Estimator(
    container,
    role,
    instance_count=1,
    instance_type="ml.m5.xlarge",
    output_path=f"s3://{bucket}/{prefix}/output",
    sagemaker_session=session,
)
xgb.set_hyperparameters(
    max_depth=5, eta=0.2, gamma=4, min_child_weight=6, subsample=0.7, objective="reg:squarederror", num_round=50
)
xgb.fit(
    {
        "train": TrainingInput(train_uri, content_type="text/csv"),
        "validation": TrainingInput(validation_uri, content_type="text/csv"),
    }
)

# %% [markdown]
# ## Batch transform over the test set, with the transformer's defaults

# %%
transformer = xgb.transformer(
    instance_count=1, instance_type="ml.m5.xlarge", output_path=f"s3://{bucket}/{prefix}/batch-output"
)
transformer.transform(test_uri, content_type="text/csv", split_type="Line")

s3 = boto3.client("s3")
batch = s3.get_object(Bucket=bucket, Key=f"{prefix}/batch-output/test.csv.out")["Body"].read().decode()
predicted = np.array(batch.split(), dtype=float)
actual = test["Rings"].to_numpy()
batch_rmse = float(np.sqrt(np.mean((actual - predicted) ** 2)))
print(f"batch transform: {len(predicted)} predictions, RMSE {batch_rmse:.3f}")

# %% [markdown]
# ## Actual against predicted

# %%
figure, axes = plt.subplots(figsize=(6, 6))
axes.scatter(actual, predicted, s=8, alpha=0.5)
axes.plot([actual.min(), actual.max()], [actual.min(), actual.max()], color="gray", linewidth=1)
axes.set_xlabel("actual rings")
axes.set_ylabel("predicted rings")
axes.set_title(f"Abalone: batch transform, RMSE {batch_rmse:.2f}")
figure.savefig(OUTPUT / "actual_vs_predicted.png", dpi=100)

# %% [markdown]
# ## A real-time endpoint

# %%
predictor = xgb.deploy(initial_instance_count=1, instance_type="ml.m5.large")
predictor.serializer = CSVSerializer()
features = test.drop(columns=["Rings"]).to_numpy()
realtime = np.array(predictor.predict(features[:100]).decode().split(), dtype=float)
difference = np.abs(realtime - predicted[:100]).max()
print(f"real-time: {len(realtime)} predictions, largest difference from the batch ones {difference:.2e}")

# %% [markdown]
# ## An asynchronous endpoint

# %%
async_predictor = xgb.deploy(
    initial_instance_count=1,
    instance_type="ml.m5.large",
    async_inference_config=AsyncInferenceConfig(output_path=f"s3://{bucket}/{prefix}/async-output"),
)
async_predictor.serializer = CSVSerializer()
# The built-in algorithm reads LIBSVM unless told otherwise: say the rows are CSV.
response = async_predictor.predict_async(data=features[:10], initial_args={"ContentType": "text/csv"})
result = response.get_result(WaiterConfig(max_attempts=120, delay=1))
asynchronous = np.array(result.decode().split(), dtype=float)
print(f"asynchronous: {len(asynchronous)} predictions, output at {response.output_path}")

# %% [markdown]
# ## Clean up

# %%
predictor.delete_endpoint()
async_predictor.delete_endpoint()
pd.DataFrame({"actual": actual, "predicted": predicted}).to_csv(OUTPUT / "batch_predictions.csv", index=False)
with open(OUTPUT / "summary.txt", "w") as summary:
    summary.write(
        f"batch_rmse={batch_rmse:.6f}\n"
        f"realtime_max_difference={difference:.3e}\n"
        f"async_max_difference={np.abs(asynchronous - predicted[:10]).max():.3e}\n"
    )
print((OUTPUT / "summary.txt").read_text())
