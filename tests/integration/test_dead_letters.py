"""Dead letters: a backfill gives up on what cannot succeed, stops fetching it, and `reelflow
retry` re-arms it. PostgreSQL, moto's S3 over HTTP, the fault-injecting origin, a Prefect test
server; the origin counts every request."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from flows.backfill import backfill
from reelflow.cli.main import app
from reelflow.devtools.origin import Fault, Origin
from reelflow.services import reset
from tests.support.movies import db_state, run_import, serve_movie

pytestmark = pytest.mark.usefixtures("prefect_server")

runner = CliRunner()
THUMB = "/{movie}/{n}/thumb.jpg"


def run_backfill(**params):
    state = backfill(return_state=True, **params)
    return state, state.result(raise_on_failure=False)


def asset(movie_id: str, number: int, kind: str = "thumbnail"):
    return db_state(movie_id)[1][(number, kind)]


def test_a_404_is_abandoned_by_the_first_backfill_and_never_fetched_again(env):
    path = THUMB.format(movie="mv-404", n=2)
    with Origin() as origin:
        run_import(
            serve_movie(origin, "mv-404", 2, {(2, "thumbnail"): [Fault.status(404, times=None)]})
        )
        assert asset("mv-404", 2).status == "failed", "an import never abandons"

        origin.reset_log()
        state, first = run_backfill()
        assert origin.requests(path) == 1, "backfill run 1 tries it once: a 404 is terminal"
        dead = asset("mv-404", 2)
        assert (dead.status, dead.backfill_failures) == ("abandoned", 1)
        assert "404" in dead.last_error and dead.attempts == 2, "import + backfill, honest"
        assert state.is_failed() and (first.abandoned, first.failed) == (1, 0)
        assert [line.status for line in first.lines] == ["abandoned"]

        origin.reset_log()
        state, second = run_backfill()
        dry_state, dry = run_backfill(dry_run=True)
        assert origin.requests() == 0, "run 2 (and a dry run) fetch nothing"
    assert state.is_completed(), "only abandoned assets left: nothing failed"
    assert (second.candidates, second.assets) == (0, 0)
    assert dry_state.is_completed() and (dry.candidates, dry.lines) == (0, [])
    episodes, _ = db_state("mv-404")
    assert not episodes[1].thumbnail_url.startswith("s3://"), "still on its temporary URL"


def test_a_transient_failure_is_abandoned_after_max_failures_backfills_then_retry_rearms(
    env, monkeypatch
):
    monkeypatch.setenv("REELFLOW_BACKFILL_MAX_FAILURES", "3")
    monkeypatch.setenv("REELFLOW_RETRIES", "1")
    reset()
    path = THUMB.format(movie="mv-503", n=1)
    with Origin() as origin:
        run_import(
            serve_movie(origin, "mv-503", 1, {(1, "thumbnail"): [Fault.status(503, times=None)]})
        )
        statuses = []
        for _ in range(3):
            origin.reset_log()
            state, report = run_backfill()
            assert origin.requests(path) == 2, "one try and one retry per backfill"
            row = asset("mv-503", 1)
            statuses.append((row.status, row.backfill_failures))
        assert statuses == [("failed", 1), ("failed", 2), ("abandoned", 3)]
        assert (report.failed, report.abandoned) == (0, 1)
        assert asset("mv-503", 1).attempts == 2 + 2 * 3, "every attempt of every run (import: 2)"

        origin.reset_log()
        run_backfill()
        assert origin.requests(path) == 0, "abandoned: the hourly backfill leaves it alone"

        status = runner.invoke(app, ["status", "--json"])
        listed = json.loads(status.stdout[status.stdout.index("{") :])["assets"]
        assert list(listed["counts"])[0] == "abandoned", "abandoned first"
        first = listed["recent_failures"][0]
        assert (first["status"], first["backfill_failures"]) == ("abandoned", 3)

        result = runner.invoke(app, ["retry", str(first["asset_id"])])
        assert result.exit_code == 0, result.output
        assert "re-armed 1 abandoned asset" in result.stdout
        rearmed = asset("mv-503", 1)
        assert (rearmed.status, rearmed.backfill_failures) == ("failed", 0)
        assert rearmed.attempts == 8, "re-arming keeps the history"

        serve_movie(origin, "mv-503", 1)  # the origin recovered
        origin.reset_log()
        state, report = run_backfill()
        assert origin.requests(path) == 1, "the next backfill fetches it again"
    assert state.is_completed() and report.stored == 1
    stored = asset("mv-503", 1)
    assert (stored.status, stored.backfill_failures) == ("stored", 0)


def test_retry_by_movie_and_all_and_what_it_refuses(env):
    with Origin() as origin:
        for movie in ("mv-r1", "mv-r2"):
            faults = {(n, "thumbnail"): [Fault.status(410, times=None)] for n in (1, 2)}
            run_import(serve_movie(origin, movie, 2, faults))
        run_backfill()
    assert {a.status for (n, k), a in db_state("mv-r1")[1].items() if k == "thumbnail"} == {
        "abandoned"
    }

    by_movie = runner.invoke(app, ["retry", "--movie", "mv-r1"])
    assert (
        by_movie.exit_code == 0 and "re-armed 2 abandoned assets of movie mv-r1" in by_movie.stdout
    )
    again = runner.invoke(app, ["retry", "--movie", "mv-r1", "--json"])
    assert json.loads(again.stdout)["rearmed"] == 0
    everything = runner.invoke(app, ["retry", "--all-abandoned"])
    assert everything.exit_code == 0 and "re-armed 2 abandoned assets" in everything.stdout

    stored_id = db_state("mv-r1")[1][(1, "preview")].id
    not_dead = runner.invoke(app, ["retry", str(stored_id)])
    assert not_dead.exit_code == 0 and "is stored, not abandoned" in not_dead.stdout

    for args, message in [
        ([], "give exactly one of"),
        (["--all-abandoned", "--movie", "mv-r1"], "give exactly one of"),
        (["999999"], "no asset with id 999999"),
        (["--movie", "no-such-movie"], "movie 'no-such-movie' does not exist"),
    ]:
        result = runner.invoke(app, ["retry", *args])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output and "Traceback" not in result.output
    not_a_number = runner.invoke(app, ["retry", "twelve"])
    assert not_a_number.exit_code == 2 and "Traceback" not in not_a_number.output


def test_an_import_tries_abandoned_assets_same_url_stays_abandoned_new_url_is_imported(env):
    gone = {(1, "thumbnail"): [Fault.status(404, times=None)]}
    path = THUMB.format(movie="mv-re", n=1)
    with Origin() as origin:
        data = serve_movie(origin, "mv-re", 1, gone)
        run_import(data)
        run_backfill()
        assert asset("mv-re", 1).status == "abandoned"

        origin.reset_log()
        state, report = run_import(data)  # an explicit request: tried, from the same URL
        assert origin.requests(path) == 1
        assert asset("mv-re", 1).status == "abandoned", "same URL, same 404: still a dead letter"
        assert [line.status for line in report.lines][0] == "abandoned"

        fresh = serve_movie(origin, "mv-re", 1, seed=7)  # the app sends a fresh URL
        state, report = run_import(fresh)
    assert state.is_completed() and report.stored == 2 - report.skipped
    row = asset("mv-re", 1)
    assert (row.status, row.backfill_failures, row.last_error) == ("stored", 0, None)
