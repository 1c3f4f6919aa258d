"""Validation against the botocore service model, with AWS-style messages."""

from __future__ import annotations

from homeport.api import shapes


def op(name: str):  # type: ignore[no-untyped-def]
    return shapes.service_model("sagemaker").operation_model(name)


def test_valid_request_passes_and_floats_are_floats() -> None:
    cleaned, problems = shapes.validate(
        op("CreateEndpointConfig"),
        {
            "EndpointConfigName": "c-1",
            "ProductionVariants": [
                {
                    "VariantName": "v",
                    "ModelName": "m",
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                    "InitialVariantWeight": 1,
                }
            ],
        },
    )
    assert problems == []
    assert isinstance(cleaned["ProductionVariants"][0]["InitialVariantWeight"], float)


def test_each_problem_names_the_field_and_the_constraint() -> None:
    _, problems = shapes.validate(
        op("CreateEndpointConfig"),
        {
            "EndpointConfigName": "bad name!",
            "ProductionVariants": [
                {"VariantName": "v", "ModelName": "m", "InitialInstanceCount": 0, "InstanceType": "ml.bogus"}
            ],
            "Extra": 1,
        },
    )
    text = shapes.problem_message(problems)
    assert text.startswith("4 validation errors detected: ")
    assert "at 'endpointConfigName' failed to satisfy constraint: Member must satisfy regular expression" in text
    assert "'productionVariants.1.member.initialInstanceCount'" in text and "greater than or equal to 1" in text
    assert "Member must satisfy enum value set: [ml.t2.medium" in text
    assert "Unknown parameter 'extra'" in text


def test_missing_required_and_wrong_types() -> None:
    _, problems = shapes.validate(op("CreateEndpoint"), {"EndpointName": 5})
    assert any("'endpointName'" in p and "must be a string" in p for p in problems)
    assert any("'endpointConfigName'" in p and "must not be null" in p for p in problems)


def test_file_urls_are_accepted_for_model_data_but_other_schemes_are_not() -> None:
    def problems(url: str) -> list[str]:
        return shapes.validate(
            op("CreateModel"), {"ModelName": "m", "PrimaryContainer": {"Image": "x", "ModelDataUrl": url}}
        )[1]

    assert problems("file:///tmp/model.tar.gz") == []
    assert problems("s3://bucket/model.tar.gz") == []
    assert problems("ftp://host/model.tar.gz")


def test_java_regex_classes_are_translated() -> None:
    rt = shapes.service_model("sagemaker-runtime").operation_model("InvokeEndpoint")
    assert shapes.validate(rt, {"EndpointName": "e", "Body": "", "InferenceId": "abc 1"})[1] == []
    assert shapes.validate(rt, {"EndpointName": "e", "Body": "", "InferenceId": " lead"})[1]
