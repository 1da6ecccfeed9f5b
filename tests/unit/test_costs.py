import pytest

from reelflow.core.costs import GB, Prices, RungBytes, estimate

PRICES = Prices(
    storage_gb_month=0.023, egress_gb=0.09, views_per_episode_month=1000, view_rung="medium"
)


def test_before_is_the_sources_and_after_is_the_ladder_with_views_on_the_view_rung():
    rungs = [
        RungBytes("large", "webp", 10, 1_000_000, 5_000_000),
        RungBytes("medium", "webp", 10, 300_000, 5_000_000),
        RungBytes("small", "webp", 10, 100_000, 5_000_000),
    ]
    found = estimate(rungs, thumbnails=10, source_bytes=5_000_000, prices=PRICES)
    assert found.stored_bytes == 1_400_000
    assert found.storage_before == pytest.approx(5_000_000 / GB * 0.023)
    assert found.storage_after == pytest.approx(1_400_000 / GB * 0.023)
    # 10 episodes x 1000 views: before each served its 500 KB source, after its 30 KB medium.
    assert found.served_bytes_before == pytest.approx(10_000 * 500_000)
    assert found.served_bytes_after == pytest.approx(10_000 * 30_000)
    assert found.egress_after == pytest.approx(10_000 * 30_000 / GB * 0.09)
    per_k = found.per_thousand()
    assert per_k.thumbnails == 1000 and per_k.egress_before == pytest.approx(
        found.egress_before * 100
    )
    assert "94.0% less" in found.lines()[2]


@pytest.mark.parametrize(
    ("rungs", "thumbnails", "served_each"),
    [
        ([], 0, 0.0),  # nothing stored
        ([RungBytes("large", "webp", 4, 400, 4000)], 4, 1000.0),  # no medium: sources served
    ],
)
def test_edges_cost_nothing_or_fall_back_to_the_sources(rungs, thumbnails, served_each):
    found = estimate(rungs, thumbnails, sum(r.source_bytes for r in rungs), PRICES)
    assert found.served_bytes_after == pytest.approx(served_each * 1000 * thumbnails)
    assert found.per_thousand().thumbnails == (1000 if thumbnails else 0)
