from reelflow.core.models import AssetJob, AssetOutcome, RenditionFile, StoredRendition
from reelflow.core.reports import transfer_report


def _outcome(n: int, status: str, sizes: dict[str, int], source: int) -> AssetOutcome:
    job = AssetJob(episode_id=n, movie_id="m", number=n, kind="thumbnail", source_url="x")
    renditions = tuple(
        StoredRendition(
            file=RenditionFile(
                rung=rung,
                format="webp",
                digest="d",
                path="",
                content_type="image/webp",
                ext="webp",
                width=1,
                height=1,
                bytes=size,
                sha256="s",
            ),
            bucket="b",
            key=f"k{n}{rung}",
            uploaded=True,
        )
        for rung, size in sizes.items()
    )
    return AssetOutcome(
        job=job,
        status=status,
        source_bytes=source,
        bytes=sizes.get("large"),  # type: ignore[arg-type]
        renditions=renditions,
    )


def test_per_rung_bytes_in_and_stored_count_only_what_was_stored():
    outcomes = [
        _outcome(1, "stored", {"large": 100, "medium": 30, "small": 10}, 1000),
        _outcome(2, "stored", {"large": 200, "medium": 50, "small": 20}, 2000),
        _outcome(3, "failed", {}, 0),
        _outcome(4, "stored", {"medium": 40}, 500),  # only a changed rung was made
    ]
    report = transfer_report(outcomes, run="import", bucket="b", seconds=1.0)
    assert [(t.rung, t.count, t.source_bytes, t.bytes) for t in report.rungs] == [
        ("large", 2, 3000, 300),
        ("medium", 3, 3500, 120),
        ("small", 2, 3000, 30),
    ]
    assert report.stored_bytes == 100 + 30 + 10 + 200 + 50 + 20 + 40, "every object stored"
    rows = report.rung_rows()
    assert rows[0]["saved"] == "90.0%" and rows[1]["renditions"] == 3
