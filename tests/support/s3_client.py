"""A raw boto3 S3 client for the test's settings: tests look behind the ObjectStore port (what
moto holds, objects deleted behind reelflow's back) where production code never may."""

from __future__ import annotations

from typing import Any

from reelflow.adapters.storage.s3_client import make_s3_client
from reelflow.settings import get_settings


def s3_client() -> Any:
    return make_s3_client(get_settings())
