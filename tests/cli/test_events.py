"""`homeport events` on a server where nothing has happened, and its one-line form of each kind of event."""

from __future__ import annotations

import argparse
from typing import Any

import pytest
from botocore.exceptions import ClientError

from homeport.cli.events import cmd_events, line


class NoGroup:
    """A CloudWatch Logs client of a server whose event log group does not exist yet."""

    def filter_log_events(self, **params: Any) -> Any:
        raise ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "no group"}}, "FilterLogEvents")


def test_a_server_with_no_event_yet_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(kind=None, resource=None, since="1h", follow=False, interval=1.0, json=False)
    assert cmd_events(args, NoGroup()) == 1
    assert "no event has happened on this server yet" in capsys.readouterr().err


def test_each_kind_of_event_is_one_line() -> None:
    endpoint = {
        "detail-type": "SageMaker Endpoint State Change",
        "detail": {"EndpointName": "web", "EndpointStatus": "IN_SERVICE"},
    }
    job = {
        "detail-type": "SageMaker Transform Job State Change",
        "detail": {"TransformJobName": "j", "TransformJobStatus": "Completed"},
    }
    training = {
        "detail-type": "SageMaker Training Job State Change",
        "detail": {"TrainingJobName": "t", "TrainingJobStatus": "InProgress", "SecondaryStatus": "Training"},
    }
    assert line(training, 0).endswith("  Training Job State Change  t  InProgress (Training)")
    other = {"detail-type": "SageMaker Something Else", "resources": ["arn:x"], "detail": {}}
    assert line(endpoint, 0).endswith("  Endpoint State Change  web  IN_SERVICE")
    assert line(job, 0).endswith("  Transform Job State Change  j  Completed")
    assert line(other, 0).endswith("  Something Else  arn:x  ")
