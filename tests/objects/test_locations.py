"""Which S3 object an https:// URL names: SageMaker takes both URL styles for an InputLocation or a ModelDataUrl."""

from __future__ import annotations

import pytest

from homeport.objects.locations import s3_form


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://my-bucket.s3.us-east-1.amazonaws.com/in/rows.csv", "s3://my-bucket/in/rows.csv"),
        ("https://my-bucket.s3.amazonaws.com/in/rows.csv", "s3://my-bucket/in/rows.csv"),
        ("https://my-bucket.s3-eu-west-1.amazonaws.com/a%20b.csv", "s3://my-bucket/a b.csv"),
        ("https://my.dotted.bucket.s3.eu-west-1.amazonaws.com/k", "s3://my.dotted.bucket/k"),
        ("https://s3.us-west-2.amazonaws.com/my-bucket/in/rows.csv", "s3://my-bucket/in/rows.csv"),
        ("https://s3.amazonaws.com/my-bucket/k%2Bv.csv", "s3://my-bucket/k+v.csv"),
        ("https://S3.AMAZONAWS.COM/my-bucket/k", "s3://my-bucket/k"),
        # Not an S3 object: left as it is, for the caller to refuse.
        ("https://example.com/rows.csv", "https://example.com/rows.csv"),
        ("https://s3.amazonaws.com/only-a-bucket", "https://s3.amazonaws.com/only-a-bucket"),
        ("https://my-bucket.s3.amazonaws.com/", "https://my-bucket.s3.amazonaws.com/"),
        ("https://my-bucket.s3.amazonaws.com.evil.example/k", "https://my-bucket.s3.amazonaws.com.evil.example/k"),
        ("s3://my-bucket/k", "s3://my-bucket/k"),
        ("http://my-bucket.s3.amazonaws.com/k", "http://my-bucket.s3.amazonaws.com/k"),
    ],
)
def test_https_urls_of_s3_objects_become_s3_uris(url: str, expected: str) -> None:
    assert s3_form(url) == expected
