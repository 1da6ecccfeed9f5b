"""The HTTP API under a real uvicorn server, in a thread of the test process, on a free port."""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from collections.abc import Iterator

from reelflow.devtools.s3server import free_port

WRITE = "w" * 24
READ = "r" * 24
TOKENS = f"read+write:{WRITE},read:{READ}"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@contextlib.contextmanager
def running_api(*, insecure: bool = False) -> Iterator[str]:
    """Serve reelflow.api.create_app() (built now, from the current settings); its base URL."""
    import uvicorn

    from reelflow.api.app import create_app

    port = free_port()
    # log_config=None: uvicorn's dictConfig would clear the process's handlers while other
    # threads (a flow run) log through them, and deadlocked on their locks.
    config = uvicorn.Config(
        create_app(insecure=insecure), host="127.0.0.1", port=port, log_config=None
    )
    server = uvicorn.Server(config)
    # The test's context goes along (Prefect's temporary settings: the API URL of the stack).
    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(server.run,), name="api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
