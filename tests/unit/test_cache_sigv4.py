"""The fast SigV4 signer against botocore's own, for fixed instants: byte-for-byte equal URLs."""

import datetime as dt
import time
from urllib.parse import quote

import boto3
import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials as BotoCredentials

from reelflow.core.sigv4 import Credentials, Endpoint, presign_get, query_params

INSTANTS = [
    dt.datetime(2026, 1, 2, 3, 4, 5),
    dt.datetime(2024, 2, 29, 23, 59, 59),
    dt.datetime(2030, 12, 31, 0, 0, 0),
]
KEYS = [
    "episode-thumbnails/m1/ep1_thumb.webp",
    "episode-previews/Movie_9-x/ep123456_preview.webm",
    "odd/key with spaces+plus~tilde/ü.jpg",  # quoting as botocore does, even if unmanaged
]


def epoch(instant: dt.datetime) -> float:
    return instant.replace(tzinfo=dt.UTC).timestamp()


@pytest.fixture()
def frozen(monkeypatch):
    """Freeze botocore's signing clock at a chosen instant."""

    def freeze(instant: dt.datetime) -> None:
        monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: instant)

    return freeze


@pytest.mark.parametrize("instant", INSTANTS)
@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize(
    ("origin", "prefix", "region", "token"),
    [
        ("http://127.0.0.1:5000", "/bucket/", "us-east-1", None),
        ("https://s3.eu-west-1.amazonaws.com", "/my-bucket/", "eu-west-1", None),
        ("https://bucket.s3.amazonaws.com", "/", "us-east-1", "FwoGZXIvYXdz+/=token"),
        ("http://[::1]:9000", "/b/", "us-west-2", None),
    ],
)
def test_same_signature_as_botocore_s3_sigv4_query_auth(
    frozen, instant, key, origin, prefix, region, token
):
    frozen(instant)
    url = f"{origin}{prefix}{quote(key, safe='/~')}"
    request = AWSRequest(method="GET", url=url)
    botocore.auth.S3SigV4QueryAuth(
        BotoCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token),
        "s3",
        region,
        expires=900,
    ).add_auth(request)

    endpoint = Endpoint.from_presigned(request.url, key)
    assert (endpoint.origin, endpoint.prefix, endpoint.region) == (origin, prefix, region)
    ours = presign_get(
        [key],
        endpoint=endpoint,
        credentials=Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token),
        expires=900,
        now=epoch(instant) + 0.75,  # fractions of a second are truncated, as botocore does
    )
    assert ours == [request.url]


@pytest.mark.parametrize(
    ("endpoint_url", "region", "style"),
    [
        ("http://127.0.0.1:5000", "us-east-1", "path"),
        ("https://minio.example:9000", "eu-central-1", "path"),
        (None, "us-east-1", "virtual"),
        (None, "ap-southeast-2", "virtual"),
        (None, "eu-west-1", "path"),
    ],
)
def test_same_urls_as_generate_presigned_url(frozen, endpoint_url, region, style):
    instant = INSTANTS[0]
    frozen(instant)
    client = boto3.session.Session(
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name=region
    ).client(
        "s3",
        endpoint_url=endpoint_url,
        config=Config(signature_version="s3v4", s3={"addressing_style": style}),
    )

    def boto(key: str) -> str:
        return client.generate_presigned_url(
            "get_object", Params={"Bucket": "media-bucket", "Key": key}, ExpiresIn=3600
        )

    endpoint = Endpoint.from_presigned(boto(KEYS[0]), KEYS[0])
    assert endpoint.region == region
    ours = presign_get(
        KEYS[:2],
        endpoint=endpoint,
        credentials=Credentials("AKIDEXAMPLE", "secret"),
        expires=3600,
        now=epoch(instant),
    )
    assert ours == [boto(k) for k in KEYS[:2]]


def test_url_carries_date_and_expiry():
    now = epoch(INSTANTS[0])
    endpoint = Endpoint("http://127.0.0.1:1", "127.0.0.1:1", "/b/", "us-east-1")
    [url] = presign_get(
        [KEYS[0]], endpoint=endpoint, credentials=Credentials("A", "S"), expires=3600, now=now
    )
    params = query_params(url)
    assert params["X-Amz-Expires"] == "3600"
    assert params["X-Amz-Date"] == time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    assert params["X-Amz-Credential"] == "A/20260102/us-east-1/s3/aws4_request"
    assert len(params["X-Amz-Signature"]) == 64


def test_different_secrets_sign_differently():
    endpoint = Endpoint("http://127.0.0.1:1", "127.0.0.1:1", "/b/", "us-east-1")

    def sign(secret: str) -> str:
        return presign_get(
            [KEYS[0]], endpoint=endpoint, credentials=Credentials("A", secret), expires=60, now=0
        )[0]

    assert sign("one") != sign("two")


def test_credentials_repr_hides_the_secret():
    assert "s3cr3t" not in repr(Credentials("AKID", "s3cr3t"))


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("http://127.0.0.1:1/b/other.jpg?X-Amz-Credential=A%2F1%2Fr%2Fs3%2Faws4_request", "k.jpg"),
        ("http://127.0.0.1:1/b/k.jpg?X-Amz-Date=1", "k.jpg"),
    ],
)
def test_endpoint_from_a_url_that_does_not_fit_is_refused(url, key):
    with pytest.raises(ValueError):
        Endpoint.from_presigned(url, key)
