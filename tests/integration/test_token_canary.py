"""No temporary URL's token is ever printed or stored outside the columns that hold the URL.

Manifests whose URLs carry one unique token are imported (and backfilled) through the CLI, as
a user runs them, under every failure an origin, a redirect, the SSRF guard, the media checks,
the size limits, the manifest validator and an absent Prefect API can cause, with Prefect
logging at DEBUG to its API. Then the token is looked for everywhere: the commands' output,
every log record, artifact, flow and task run the Prefect API holds for those runs, every file
under PREFECT_HOME (results, storage), and every database column except the ones whose job is
to hold the temporary URL (which must hold it: the search is proven to find it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from prefect.settings import PREFECT_API_URL
from sqlalchemy import select

from reelflow.adapters.db.schema import Base
from reelflow.devtools.origin import Fault, Origin
from reelflow.devtools.s3server import free_port
from reelflow.services import resources
from tests.support.movies import jpeg, webm

pytestmark = pytest.mark.usefixtures("prefect_server")

# Columns whose purpose is to keep the temporary URL (so a later backfill can retry it), and
# the stored manifest itself. Everything else must never hold a token.
URL_COLUMNS = {
    ("episodes", "thumbnail_url"),
    ("episodes", "video_preview_url"),
    ("episodes", "thumbnail_source_url"),
    ("episodes", "video_preview_source_url"),
    ("assets", "source_url"),
    ("manifests", "body"),
}


def cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reelflow.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def hostile_manifest(origin: Origin, token: str) -> dict[str, Any]:
    """One episode per failure mode; every URL carries `token` (query, fragment or userinfo)."""
    base = origin.base_url
    q = f"?X-Amz-Signature={token}&Expires=1"
    html = b"\xff\xd8\xff\xe0<html><body>login required</body></html>" * 4
    routes: dict[int, tuple[bytes, str, list[Fault]]] = {
        1: (jpeg(1, 320, 180), "image/jpeg", []),  # stored: the success path logs too
        3: (jpeg(3, 320, 180), "image/jpeg", [Fault.status(503, times=None)]),  # retries run out
        4: (jpeg(4, 320, 180), "image/jpeg", [Fault.reset(times=None)]),
        5: (jpeg(5, 320, 180), "image/jpeg", [Fault.truncate(times=None)]),
        6: (jpeg(6, 320, 180), "image/jpeg", [Fault.redirect(f"http://10.9.8.7/x.jpg{q}")]),
        7: (jpeg(7, 320, 180), "image/jpeg", [Fault.redirect(f"http://[::1{q}")]),
        8: (html, "image/jpeg", []),  # not an image
        9: (jpeg(9, 320, 180), "image/jpeg", [Fault.status(403, times=None)]),
    }
    for n, (body, content_type, faults) in routes.items():
        origin.add(f"/canary/{n}/thumb.jpg", body, content_type, faults=faults)
    origin.add("/canary/1/preview.webm", webm(1), "video/webm")
    origin.add("/canary/10/preview.webm", webm(10) * 40, "video/webm")  # over the size limit
    episodes = [
        {"number": n, "thumbnail_url": f"{base}/canary/{n}/thumb.jpg{q}"} for n in range(1, 10)
    ]
    episodes[0]["video_preview_url"] = f"{base}/canary/1/preview.webm{q}"
    episodes[1]["thumbnail_url"] = f"{base}/canary/2/missing.jpg{q}"  # 404
    episodes += [
        {"number": 10, "video_preview_url": f"{base}/canary/10/preview.webm{q}"},
        {"number": 11, "thumbnail_url": f"http://10.1.2.3/t.jpg{q}"},  # blocked address
        {"number": 12, "thumbnail_url": base.replace("//", f"//user:{token}@") + "/c/12.jpg"},
        {"number": 13, "thumbnail_url": f"{base}/canary/13/gone.jpg#{token}"},
        {"number": 14, "thumbnail_url": f"http://127.0.0.1:{free_port()}/t.jpg{q}"},  # refused
    ]
    return {"movie_id": "mv-canary", "title": "Canary", "episodes": episodes}


def prefect_records(since: datetime) -> list[Any]:
    """Every flow run, task run, log and artifact the Prefect API holds since `since`."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )

    records: list[Any] = []
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                expected_start_time=FlowRunFilterExpectedStartTime(after_=since)
            )
        )
        ids = [run.id for run in runs]
        assert len(ids) >= 2, "the import and the backfill runs must be in the API"
        records += runs
        records += client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids))
        )
        offset = 0
        while True:
            page = client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids)),
                limit=200,
                offset=offset,
            )
            records += page
            offset += len(page)
            if len(page) < 200:
                break
        assert offset > 20, "the runs' logs must have reached the API"
        records += client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=ids))
        )
    return records


def database_text() -> tuple[str, str]:
    """(every column that must not hold a token, the columns that hold temporary URLs)."""
    other: list[Any] = []
    urls: list[Any] = []
    with resources.engine().connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(select(table)).mappings():
                for column, value in row.items():
                    (urls if (table.name, column) in URL_COLUMNS else other).append(value)
    return json.dumps(other, default=str), json.dumps(urls, default=str)


def test_a_url_token_appears_nowhere_whatever_fails(env, tmp_path):
    token = f"canary{uuid.uuid4().hex}"
    since = datetime.now(UTC)
    prefect_home = tmp_path / "prefect-home"
    child = {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_HOME": str(prefect_home),
        "PREFECT_LOGGING_TO_API_ENABLED": "true",
        "PREFECT_LOGGING_LEVEL": "DEBUG",
        "REELFLOW_MAX_VIDEO_BYTES": str(len(webm(10)) * 20),
    }
    outputs: list[str] = []
    with Origin() as origin:
        manifest = tmp_path / "manifest.json"
        manifest.write_text(json.dumps(hostile_manifest(origin, token)))
        first = cli(["import", str(manifest), "--json"], child)
        outputs += [first.stdout, first.stderr]
        assert first.returncode == 1, first.stderr[-3000:]
        lines = json.loads(first.stdout)["lines"]
        status = {(line["episode"], line["kind"]): line["status"] for line in lines}
        assert status.pop((1, "thumbnail")) == status.pop((1, "preview")) == "stored"
        assert [k for k, v in status.items() if v != "failed"] == [] and len(status) == 13, status
        errors = " | ".join(line["error"] or "" for line in lines)
        for cause in (
            "HTTP 404",
            "HTTP 503",
            "HTTP 403",
            "Private-Use",
            "invalid Location",
            "does not decode",
            "exceeds the limit",
            "credentials",
            "reset by peer",
            "broken off",
            "Connection refused",
        ):
            assert cause in errors, (cause, errors)
        again = cli(["backfill"], child)  # the human-readable table, errors included
        outputs += [again.stdout, again.stderr]
        assert again.returncode == 1 and "failed" in again.stdout, again.stderr[-3000:]

        # Input that never gets as far as a run: a refused manifest, an absent Prefect API.
        bad = tmp_path / "bad.json"
        bad.write_text(
            json.dumps(
                {
                    "movie_id": "mv-canary",
                    "episodes": [{"number": 1, "thumbnail_url": f"ftp://cdn/{token}?sig={token}"}],
                }
            )
        )
        refused = cli(["import", str(bad)], child)
        outputs += [refused.stdout, refused.stderr]
        assert refused.returncode == 2 and "thumbnail_url" in refused.stderr
        offline = {**child, "PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api"}
        down = cli(["import", str(manifest), "--submit"], offline)
        outputs += [down.stdout, down.stderr]
        assert down.returncode == 1 and "error:" in down.stderr, down.stderr[-2000:]

    printed = "\n".join(outputs)
    assert "Traceback" not in printed, printed[-3000:]
    assert token not in printed, _around(printed, token)

    api = json.dumps([r.model_dump(mode="json") for r in prefect_records(since)])
    assert "/canary/3/thumb.jpg" in api, "the URLs' paths are logged (and the search works)"
    assert token not in api, _around(api, token)

    for path in prefect_home.rglob("*"):
        if path.is_file():
            content = path.read_bytes().decode("utf-8", "replace")
            assert token not in content, f"{path}: {_around(content, token)}"

    other, urls = database_text()
    assert token in urls, "the temporary URLs are kept for a later retry (and the search works)"
    assert token not in other, _around(other, token)


def _around(text: str, needle: str, width: int = 300) -> str:
    at = text.find(needle)
    return text[max(0, at - width) : at + width]
