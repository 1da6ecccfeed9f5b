"""probe_origin: what the outage gate asks an origin host while it is down, instead of
repeating an asset's download. Against the local origin: any answer means up, a refused
connection anywhere in the redirect chain means still down, and every hop passes the guard."""

from __future__ import annotations

import pytest

from reelflow.adapters.http.fetch import probe_origin
from reelflow.adapters.http.transport import make_client
from reelflow.core.errors import BlockedURL, OriginUnreachable
from reelflow.core.urlguard import FetchPolicy
from reelflow.devtools.origin import Fault, Origin
from reelflow.devtools.s3server import free_port

pytestmark = pytest.mark.timeout(30)
LOCAL = FetchPolicy(allow=("127.0.0.1",), connect_timeout=2.0, read_timeout=2.0)


@pytest.fixture()
def client():
    with make_client(LOCAL) as guarded:
        yield guarded


def test_any_answer_means_the_host_is_up(client):
    with Origin() as origin:
        found = origin.add("/e/1/thumb.jpg", b"x" * 10, "image/jpeg")
        probe_origin(found, client, LOCAL)
        probe_origin(origin.url("/e/404/nothing.jpg"), client, LOCAL)  # a 404 is an answer
        assert origin.requests() == 2


def test_a_refused_connection_is_still_down(client):
    dead = f"http://127.0.0.1:{free_port()}/e/1/thumb.jpg"
    with pytest.raises(OriginUnreachable, match="ConnectError"):
        probe_origin(dead, client, LOCAL)


def test_a_redirect_to_a_host_that_refuses_is_still_down(client):
    """The first host answers 302; the download failed on the redirect target's host, and so
    must the probe, or held assets would be let go into the same refused connection."""
    dead = f"http://127.0.0.1:{free_port()}/cdn/1/thumb.jpg"
    with Origin() as origin:
        start = origin.add("/e/1/thumb.jpg", b"x", faults=[Fault.redirect(dead)])
        with pytest.raises(OriginUnreachable):
            probe_origin(start, client, LOCAL)
        live = origin.add("/cdn/ok.jpg", b"x")
        again = origin.add("/e/2/thumb.jpg", b"x", faults=[Fault.redirect(live)])
        probe_origin(again, client, LOCAL)


def test_every_hop_passes_the_guard(client):
    with Origin() as origin:
        start = origin.add("/e/1/thumb.jpg", b"x", faults=[Fault.redirect("http://10.0.0.1/x")])
        with pytest.raises(BlockedURL):
            probe_origin(start, client, LOCAL)


def test_only_a_guarded_client_of_the_same_policy_is_taken():
    import httpx

    with httpx.Client() as plain, pytest.raises(ValueError, match="make_client"):
        probe_origin("http://127.0.0.1:1/x", plain, LOCAL)
