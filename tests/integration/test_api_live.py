"""Live progress over HTTP (Prefect's test server, PostgreSQL, Redis, moto, a slow origin, a
real uvicorn): SSE and WebSocket clients see per-asset progress while the run works and the
final state at the end; a reconnect with Last-Event-ID resumes without a gap or a duplicate;
without Redis the stream polls the status instead of failing."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from reelflow.devtools.origin import Fault, Origin
from reelflow.settings import reset_settings
from tests.support.api import READ, TOKENS, auth, running_api
from tests.support.movies import run_import, serve_movie

pytestmark = pytest.mark.usefixtures("prefect_server")
EPISODES = 4


@pytest.fixture()
def live_env(env, redis_env, monkeypatch):
    monkeypatch.setenv("REELFLOW_API_TOKENS", TOKENS)
    reset_settings()
    return env


def read_sse(base: str, run_id: str, last_event_id: str | None = None, stop_after: int = 0):
    """(id, event, data) of the stream, to its end (or after `stop_after` events)."""
    headers = auth(READ)
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    events, fields = [], {}
    url = f"{base}/api/v1/imports/{run_id}/events"
    with httpx.stream("GET", url, headers=headers, timeout=60) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith(":") or line.startswith("retry:"):
                continue
            if not line:
                if fields:
                    events.append((fields["id"], fields["event"], json.loads(fields["data"])))
                    fields = {}
                    if stop_after and len(events) >= stop_after:
                        break
                continue
            name, _, value = line.partition(": ")
            fields[name] = value
    return events


def run_id_of(movie_id: str, timeout: float = 60) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[f"import-{movie_id}"]))
            )
        if runs:
            return str(runs[0].id)
        time.sleep(0.1)
    raise AssertionError(f"no run for {movie_id}")


def tag_run(run_id: str, movie_id: str) -> None:
    """Runs started in-process carry no tags; a submitted one has these (deployments.submit)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        client.update_flow_run(run_id, tags=["reelflow", "import", f"movie:{movie_id}"])


def test_sse_shows_progress_live_and_resumes_without_a_gap(live_env):
    with Origin() as origin:
        data = serve_movie(origin, "mv-live", EPISODES, every_asset=[Fault.latency(0.4, times=1)])
        box = {}
        worker = threading.Thread(target=lambda: box.update(result=run_import(data)))
        worker.start()
        run_id = run_id_of("mv-live")
        tag_run(run_id, "mv-live")
        with running_api() as base:
            seen_while_running = read_sse(base, run_id, stop_after=2)
            still_running = worker.is_alive()
            worker.join(120)
            whole = read_sse(base, run_id)
            resumed = read_sse(base, run_id, last_event_id=whole[1][0])
    state, _ = box["result"]
    assert state.is_completed(), state.message
    assert [e for _, e, _ in seen_while_running] == ["started", "progress"]
    assert still_running, "the first progress event arrived while the run was working"
    names = [e for _, e, _ in whole]
    assert names[0] == "started" and names[-1] == "finished" and "progress" in names
    assert whole[0][2] == {"total": 2 * EPISODES}
    assets = [a for _, e, d in whole if e == "progress" for a in d["assets"]]
    assert sorted((a["episode"], a["kind"]) for a in assets) == sorted(
        (n, k) for n in range(1, EPISODES + 1) for k in ("thumbnail", "preview")
    ), "every asset once, none dropped by the throttle"
    assert all(a["status"] == "stored" for a in assets)
    progress = [d for _, e, d in whole if e == "progress"]
    assert progress[-1]["done"] == progress[-1]["total"] == 2 * EPISODES
    assert len(progress) <= 2 * EPISODES
    assert whole[-1][2]["state"] == "Completed" and whole[-1][2]["counts"]["stored"] == 8
    ids = [i for i, _, _ in whole]
    assert ids == sorted(ids, key=lambda i: tuple(int(p) for p in i.split("-")))
    assert resumed == whole[2:], "after the second event: the rest, no gap, no duplicate"


def test_the_websocket_streams_the_same_events_and_refuses_without_a_token(live_env):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    with Origin() as origin:
        state, _ = run_import(serve_movie(origin, "mv-ws", 2))
    assert state.is_completed()
    run_id = run_id_of("mv-ws")
    tag_run(run_id, "mv-ws")
    with running_api() as base:
        sse = read_sse(base, run_id)
        url = base.replace("http", "ws") + f"/api/v1/imports/{run_id}/ws"
        with connect(url, additional_headers=auth(READ)) as socket:
            messages = [json.loads(m) for m in socket]
        with connect(f"{url}?last_event_id={sse[0][0]}", additional_headers=auth(READ)) as ws:
            later = [json.loads(m) for m in ws]
        with pytest.raises(InvalidStatus) as refused, connect(url):
            pass
    assert [(m["id"], m["event"], m["data"]) for m in messages] == sse
    assert [(m["id"], m["event"], m["data"]) for m in later] == sse[1:]
    assert refused.value.response.status_code == 403


def test_without_redis_the_stream_polls_the_status(live_env, monkeypatch):
    with Origin() as origin:
        state, _ = run_import(serve_movie(origin, "mv-poll", 2))
    assert state.is_completed()
    run_id = run_id_of("mv-poll")
    tag_run(run_id, "mv-poll")
    monkeypatch.setenv("REDIS_PORT", "1")  # nothing listens there
    reset_settings()
    with running_api() as base:
        events = read_sse(base, run_id)
    assert [e for _, e, _ in events] == ["finished"]
    assert events[0][0].startswith("poll-") and events[0][2]["counts"] == {"stored": 4}
    assert events[0][2]["state_type"] == "COMPLETED"
