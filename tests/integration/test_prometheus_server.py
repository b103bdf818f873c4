"""Smoke test of the real Prometheus helpers: render, backfill, start, query, stop.

A tiny fixture of its own (one counter, two label sets, 1 h at 15 s steps ending at END), so a
broken helper shows up here rather than as a confusing failure in the rolloutcli tests.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.integration.prometheus_server import (
    Sample,
    backfill,
    render_openmetrics,
    start_prometheus,
    stop_prometheus,
    write_openmetrics,
)

pytestmark = [pytest.mark.integration, pytest.mark.prometheus]

END = 1704067200  # 2024-01-01T00:00:00Z, on the 15 s grid (and on a 2 h block boundary)
STEP = 15
HOUR = 3600
INCREMENTS = {"control": 3, "treatment": 7}  # per 15 s step


def _samples() -> list[Sample]:
    """``demo_requests_total`` from END-1h to END inclusive (241 points per series), reversed.

    Reversed on purpose: render_openmetrics must sort each series by time, otherwise promtool
    would silently drop the out-of-order samples and the sums below would be wrong.
    """
    samples: list[Sample] = []
    for variant, step_increment in INCREMENTS.items():
        labels = {"flag": "checkout-v2", "variant": variant}
        for i in range(HOUR // STEP + 1):
            samples.append(
                ("demo_requests_total", labels, i * step_increment, END - HOUR + i * STEP)
            )
    return samples[::-1]


def test_render_openmetrics_sorts_and_ends_with_eof() -> None:
    text = render_openmetrics(
        [
            ("h_count", {}, 2, 20),
            ("h_bucket", {"le": "+Inf"}, 2, 20),
            ("h_bucket", {"le": "0.5"}, 1, 20),
            ("h_sum", {}, 0.75, 20),
            ("x_total", {"b": "2", "a": 'q"\\'}, 1.5, 10.5),
            ("x_total", {"a": 'q"\\', "b": "2"}, 1, 10),
        ],
        {"x": "counter", "h": "histogram"},
    )
    assert text == (
        "# TYPE h histogram\n"
        'h_bucket{le="0.5"} 1 20\n'
        'h_bucket{le="+Inf"} 2 20\n'
        "h_count 2 20\n"
        "h_sum 0.75 20\n"
        "# TYPE x counter\n"
        'x_total{a="q\\"\\\\",b="2"} 1 10\n'
        'x_total{a="q\\"\\\\",b="2"} 1.5 10.5\n'
        "# EOF\n"
    )


@pytest.mark.parametrize(
    ("samples", "types", "message"),
    [
        ([("x_total", {}, 1, END * 1000)], {"x": "counter"}, "milliseconds"),
        ([("x_total", {}, 1, END), ("x_total", {}, 2, END)], {"x": "counter"}, "two values"),
        ([("x_total", {}, 1, END)], {"x_total": "counter"}, "without '_total'"),
        ([("x_total", {}, 1, END)], {"y": "gauge"}, "declare the family 'x'"),
    ],
)
def test_render_openmetrics_rejects_what_promtool_would_swallow(
    samples: list[Sample], types: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        render_openmetrics(samples, types)


def test_backfill_start_query_stop(tmp_path: Path) -> None:
    started = time.monotonic()
    source = write_openmetrics(tmp_path / "demo.om", _samples(), {"demo_requests": "counter"})
    blocks = backfill(source, tmp_path / "blocks")
    assert any(blocks.iterdir()), "promtool wrote no blocks"

    server = start_prometheus(blocks, tmp_path / "run")
    try:
        assert server.url.startswith("http://127.0.0.1:")
        assert server.data_dir != blocks
        with httpx.Client(base_url=server.url, timeout=5.0) as http:

            def query(promql: str) -> httpx.Response:
                return http.get("/api/v1/query", params={"query": promql, "time": END})

            total = query('sum(increase(demo_requests_total{flag="checkout-v2"}[1h]))')
            assert total.status_code == 200, total.text
            body = total.json()
            assert body["status"] == "success"
            assert body["data"]["resultType"] == "vector"
            steps = HOUR // STEP
            expected = steps * sum(INCREMENTS.values())  # 240 * (3 + 7) = 2400
            assert body["data"]["result"] == [{"metric": {}, "value": [END, str(expected)]}]

            per_variant = query("sum by (variant) (increase(demo_requests_total[1h]))")
            assert per_variant.status_code == 200, per_variant.text
            values = {
                item["metric"]["variant"]: item["value"][1]
                for item in per_variant.json()["data"]["result"]
            }
            assert values == {v: str(steps * inc) for v, inc in INCREMENTS.items()}

            unknown = query('sum(increase(demo_requests_total{variant="nope"}[1h]))')
            assert unknown.status_code == 200, unknown.text
            assert unknown.json()["data"]["result"] == []

            bad = query("sum(increase(demo_requests_total[1h])")
            assert bad.status_code == 400, bad.text
            assert bad.json()["status"] == "error"
            assert bad.json()["errorType"] == "bad_data"
    finally:
        code = stop_prometheus(server)
    assert server.process.poll() is not None
    assert code == 0, server.log_path.read_text()
    assert time.monotonic() - started < 3.0
