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


def cloudwatch(name: str):  # type: ignore[no-untyped-def]
    return shapes.service_model("cloudwatch").operation_model(name)


def put(datum: dict) -> list[str]:  # type: ignore[type-arg]
    return shapes.validate(cloudwatch("PutMetricData"), {"Namespace": "N", "MetricData": [datum]})[1]


def test_text_no_wire_can_carry_is_refused_and_quoted_carriably() -> None:
    for bad in ("\udfff", "a\ud800b", "nul\x00byte", "bell\x07"):
        problems = put({"MetricName": "m", "Value": 1, "Dimensions": [{"Name": "d", "Value": bad}]})
        assert len(problems) == 1 and "Member must be Unicode text without control characters" in problems[0]
        problems[0].encode("utf-8")  # the message itself is carriable
    assert put({"MetricName": "tab\tand\nnewline", "Value": 1}) == []  # what XML carries is text


def test_numbers_must_be_finite_and_integers_must_fit() -> None:
    for bad in (float("nan"), float("inf"), -float("inf"), 10**400):
        assert any("finite number" in p for p in put({"MetricName": "m", "Value": bad}))
    assert any("timestamp" in p for p in put({"MetricName": "m", "Value": 1, "Timestamp": float("nan")}))
    _, problems = shapes.validate(op("ListModels"), {"MaxResults": 2**31})
    assert any("must be an integer between" in p for p in problems)
    _, problems = shapes.validate(op("ListModels"), {"MaxResults": 10**400})
    assert any("an integer of 1329 bits" in p for p in problems)
