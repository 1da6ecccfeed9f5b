"""Which S3 failures are retried (StorageUnavailable) and which are final (StorageRejected)."""

import pytest
from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from reelflow.adapters.storage.s3_client import translate
from reelflow.core.errors import StorageRejected, StorageUnavailable, is_retryable


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "PutObject",
    )


def wrapped(exc: Exception) -> S3UploadFailedError:
    try:
        raise S3UploadFailedError("Failed to upload") from exc
    except S3UploadFailedError as outer:
        return outer


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (client_error("SlowDown", 503), StorageUnavailable),
        (client_error("InternalError", 500), StorageUnavailable),
        (client_error("RequestTimeout", 400), StorageUnavailable),
        (client_error("ThrottlingException", 400), StorageUnavailable),
        (client_error("Whatever", 502), StorageUnavailable),
        (client_error("AccessDenied", 403), StorageRejected),
        (client_error("NoSuchBucket", 404), StorageRejected),
        (client_error("InvalidRequest", 400), StorageRejected),
        (wrapped(client_error("SlowDown", 503)), StorageUnavailable),
        (wrapped(client_error("AccessDenied", 403)), StorageRejected),
        (EndpointConnectionError(endpoint_url="http://s3"), StorageUnavailable),
        (ReadTimeoutError(endpoint_url="http://s3"), StorageUnavailable),
    ],
)
def test_translate(exc, kind):
    translated = translate(exc, "upload k")
    assert type(translated) is kind
    assert is_retryable(translated) is (kind is StorageUnavailable)
    assert translated.args[0].startswith("upload k")
