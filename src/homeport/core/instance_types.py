"""What an ML instance type stands for: its vCPUs, memory and GPUs, so that an engine that places instances on a
cluster (engines/ray_engine.py) asks a node for what the type would have in AWS.

The botocore model lists the types (ProductionVariantInstanceType and the rest) but not their sizes. EC2 names them
by a rule: the size gives the vCPUs (`large` 2, `xlarge` 4, `Nxlarge` 4N), and each family has a fixed memory per
vCPU. GPUs follow the accelerated families' sizes. Trainium, Inferentia and Habana accelerators are not counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SIZE = re.compile(r"^(?:(\d+)?xlarge|large|medium)$")
# GiB of memory per vCPU, by family (the longest matching prefix wins).
_MEMORY_PER_VCPU = {
    "c": 2.0, "m": 4.0, "r": 8.0, "t": 4.0, "g4dn": 4.0, "g5": 4.0, "g6": 4.0, "g6e": 8.0, "g7": 8.0,
    "p2": 15.25, "p3": 7.625, "p4": 12.0, "p5": 10.67, "p6": 10.67, "inf1": 2.0, "inf2": 4.0, "trn": 4.0,
    "dl1": 8.0,
}  # fmt: skip
# GPUs by family and size; a family's sizes not listed have `_ONE_GPU` of the family (1) or none.
_GPUS = {
    ("p2", "xlarge"): 1, ("p2", "8xlarge"): 8, ("p2", "16xlarge"): 16,
    ("p3", "2xlarge"): 1, ("p3", "8xlarge"): 4, ("p3", "16xlarge"): 8, ("p3", "24xlarge"): 8,
}  # fmt: skip
_EIGHT_GPU_FAMILIES = ("p4", "p5", "p6")  # only their largest sizes exist: 8 GPUs each
_ONE_GPU_FAMILIES = ("g4dn", "g5", "g6", "g7")  # 1 GPU, but 4 at 12xlarge and 24xlarge, and 8 at 48xlarge


@dataclass(frozen=True)
class Capacity:
    vcpus: int
    memory_gib: float
    gpus: int


def capacity(instance_type: str) -> Capacity:
    """`ml.m5.large` → 2 vCPUs, 8 GiB, no GPU. ValueError for a name that is not `ml.FAMILY.SIZE`."""
    parts = instance_type.split(".")
    if len(parts) != 3 or parts[0] != "ml" or not (found := _SIZE.match(parts[2])):
        raise ValueError(f"not an ML instance type (ml.FAMILY.SIZE): {instance_type!r}")
    family, size = parts[1], parts[2]
    if size == "medium":
        vcpus = 2 if family.startswith("t") else 1
    elif size == "large":
        vcpus = 2
    else:
        vcpus = 4 * int(found[1] or 1)
    per_vcpu = next(
        (v for k, v in sorted(_MEMORY_PER_VCPU.items(), key=lambda kv: -len(kv[0])) if family.startswith(k)), 4.0
    )
    memory = 4.0 if (family, size) == ("t2", "medium") else vcpus * per_vcpu
    return Capacity(vcpus, memory, _gpus(family, size))


def _gpus(family: str, size: str) -> int:
    if (family, size) in _GPUS:
        return _GPUS[family, size]
    if family.startswith(_EIGHT_GPU_FAMILIES):
        return 8
    if family.startswith(_ONE_GPU_FAMILIES):
        return {"12xlarge": 4, "24xlarge": 4, "48xlarge": 8}.get(size, 1)
    return 0
