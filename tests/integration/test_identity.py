"""STS GetCallerIdentity for the key that signed, and services homeport does not have refused in the protocol the
client speaks: XML for the query protocol's STS and IAM, which could not parse a JSON error."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import KEYS, boto_client


def test_get_caller_identity_names_the_signing_key(server: Any) -> None:
    identity = boto_client("sts", server.url).get_caller_identity()
    key = KEYS["HOMEPORT_ACCESS_KEY_ID"]
    assert (identity["UserId"], identity["Account"]) == (key, "000000000000")
    assert identity["Arn"] == f"arn:aws:iam::000000000000:user/{key}"


def test_what_homeport_does_not_have_is_refused_in_xml(server: Any) -> None:
    with pytest.raises(ClientError) as err:
        boto_client("sts", server.url).assume_role(
            RoleArn="arn:aws:iam::000000000000:role/r", RoleSessionName="session"
        )
    assert err.value.response["Error"]["Code"] == "UnknownOperationException"
    assert "AssumeRole" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        boto_client("iam", server.url).get_role(RoleName="homeport")
    assert err.value.response["Error"]["Code"] == "InvalidAction"
    assert "iam" in err.value.response["Error"]["Message"]
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
