"""Approving a version the group's first page of versions does not hold (no server: the test answers the calls):
the console finds it by its ARN, derived from the group's, not by listing."""

from __future__ import annotations

import re
from typing import Any

from starlette.testclient import TestClient

from homeport.api.auth.keys import AccessKey, KeyRing
from homeport.console.app import console_app
from homeport.console.context import Console
from homeport.core.clock import ManualClock
from homeport.errors import ValidationError
from homeport.objects.locations import Locator

KEY, SECRET = "AKIDREGISTRY", "registry-secret"
GROUP_ARN = "arn:aws:sagemaker:us-east-1:000000000000:model-package-group/big"


def test_version_150_of_a_large_group_is_approved_by_its_arn() -> None:
    updates: list[dict[str, Any]] = []

    def operate(service: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        if operation == "DescribeModelPackageGroup":
            return {"ModelPackageGroupName": "big", "ModelPackageGroupArn": GROUP_ARN}
        if operation == "ListModelPackages":  # the page shows the newest 100: 150 … 51
            return {"ModelPackageSummaryList": []}
        if operation == "DescribeModelPackage":
            if not params["ModelPackageName"].endswith("/150"):
                raise ValidationError(f"Model Package {params['ModelPackageName']} does not exist.")
            return {"ModelPackageArn": params["ModelPackageName"]}
        assert operation == "UpdateModelPackage"
        updates.append(params)
        return {"ModelPackageArn": params["ModelPackageArn"]}

    console = Console(KeyRing([AccessKey(KEY, SECRET)]), ManualClock(1e6), operate, lambda _: [], 60, Locator(None))
    with TestClient(console_app(console), base_url="http://testserver", follow_redirects=False) as http:
        http.post("/console/login", data={"access_key_id": KEY, "secret_access_key": SECRET})
        token = re.search(r'name="csrf" value="([^"]+)"', http.get("/console/registry/big").text)
        assert token is not None
        done = http.post("/console/registry/big/150/approve", data={"csrf": token.group(1)})
        assert done.status_code == 303 and done.headers["location"] == "/console/registry/big"
        assert updates == [
            {
                "ModelPackageArn": "arn:aws:sagemaker:us-east-1:000000000000:model-package/big/150",
                "ModelApprovalStatus": "Approved",
            }
        ]
        missing = http.post("/console/registry/big/151/reject", data={"csrf": token.group(1)})
        assert missing.status_code == 404 and "no version 151" in missing.text and len(updates) == 1
