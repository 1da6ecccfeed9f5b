"""`python -m reelflow.devtools.sample_origin`: the local stack's stand-in CDN, serving the
sample media.

Serves /cdn/<n>/thumb.jpg (JPEG) and /cdn/<n>/preview.webm (WebM) for n = 1..episodes on
127.0.0.1:<port> until SIGTERM or SIGINT, so sample.json's URLs stay fetchable while the stack
is up. The media is generated once into --media-dir and reused (the same files `make demo`
serves).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from reelflow.devtools.demo import sample_media
from reelflow.devtools.origin import Origin

__all__ = ["DEFAULT_PORT", "main", "sample_manifest"]

DEFAULT_PORT = 8787


def sample_manifest(
    episodes: int, port: int = DEFAULT_PORT, movie_id: str = "sample-movie"
) -> dict[str, object]:
    """The manifest of the sample movie this origin serves (what sample.json holds)."""
    base = f"http://127.0.0.1:{port}/cdn"
    return {
        "movie_id": movie_id,
        "title": "Sample Movie",
        "episodes": [
            {
                "number": n,
                "title": f"Episode {n}",
                "thumbnail_url": f"{base}/{n}/thumb.jpg?token=sample-{n}",
                "video_preview_url": f"{base}/{n}/preview.webm?token=sample-{n}",
            }
            for n in range(1, episodes + 1)
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reelflow.devtools.sample_origin", description=__doc__
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--episodes", type=int, default=12)
    parser.add_argument("--media-dir", type=Path, default=Path(".reelflow/media"))
    args = parser.parse_args(argv)

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    media = sample_media(args.episodes, args.media_dir)
    with Origin(port=args.port) as origin:
        for number, (jpg, webm) in enumerate(media, start=1):
            origin.add(f"/cdn/{number}/thumb.jpg", jpg, "image/jpeg")
            origin.add(f"/cdn/{number}/preview.webm", webm, "video/webm")
        print(
            f"origin serving {len(media)} episodes at http://127.0.0.1:{origin.port}/cdn/",
            flush=True,
        )
        while not stop.wait(1.0):
            pass
    return 0


if __name__ == "__main__":  # pragma: no cover - process entry point
    sys.exit(main())
