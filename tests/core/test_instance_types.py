"""What instance types stand for, checked against every type the service model lists."""

from __future__ import annotations

import botocore.session
import pytest

from homeport.core.instance_types import Capacity, capacity

SHAPES = ("ProductionVariantInstanceType", "TransformInstanceType", "TrainingInstanceType", "ProcessingInstanceType")


def _listed() -> list[str]:
    model = botocore.session.get_session().get_service_model("sagemaker")
    return sorted({name for shape in SHAPES for name in model.shape_for(shape).enum})


@pytest.mark.parametrize("instance_type", _listed())
def test_every_listed_type_has_a_capacity(instance_type: str) -> None:
    found = capacity(instance_type)
    assert found.vcpus >= 1 and found.memory_gib >= 2 and found.gpus >= 0


@pytest.mark.parametrize(
    ("instance_type", "expected"),
    [
        ("ml.m5.large", Capacity(2, 8.0, 0)),
        ("ml.c5.xlarge", Capacity(4, 8.0, 0)),
        ("ml.r5.2xlarge", Capacity(8, 64.0, 0)),
        ("ml.t2.medium", Capacity(2, 4.0, 0)),
        ("ml.c6g.medium", Capacity(1, 2.0, 0)),
        ("ml.m5d.24xlarge", Capacity(96, 384.0, 0)),
        ("ml.g4dn.xlarge", Capacity(4, 16.0, 1)),
        ("ml.g5.12xlarge", Capacity(48, 192.0, 4)),
        ("ml.g5.48xlarge", Capacity(192, 768.0, 8)),
        ("ml.g6e.xlarge", Capacity(4, 32.0, 1)),
        ("ml.p3.2xlarge", Capacity(8, 61.0, 1)),
        ("ml.p3.16xlarge", Capacity(64, 488.0, 8)),
        ("ml.p4d.24xlarge", Capacity(96, 1152.0, 8)),
        ("ml.inf2.xlarge", Capacity(4, 16.0, 0)),
    ],
)
def test_types_stand_for_what_aws_gives_them(instance_type: str, expected: Capacity) -> None:
    assert capacity(instance_type) == expected


@pytest.mark.parametrize("bad", ["", "m5.large", "ml.m5", "ml.m5.huge", "ml.m5.xlargeish", "ec2.m5.large"])
def test_other_names_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="ML instance type"):
        capacity(bad)
