"""The local metrics file: window boundaries, counters, values and summaries, bad rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rolloutcli.metrics.base import Cohort, Window
from rolloutcli.metrics.file import FileMetricsSource
from rolloutcli.support.errors import BackendError

T = Cohort("treatment", "v2.4")
C = Cohort("control", "v2.3")
WINDOW = Window(datetime(2026, 11, 2, 10, tzinfo=UTC), datetime(2026, 11, 2, 11, tzinfo=UTC))

CSV = """time,cohort,metric,value,count,sum,sum_sq
2026-11-02T09:59:59Z,treatment,requests,1000,,,
2026-11-02T10:00:00Z,treatment,requests,100,,,
2026-11-02T10:30:00Z,v2.4,requests,50,,,
2026-11-02T11:00:00Z,treatment,requests,7,,,
2026-11-02T10:10:00Z,control,requests,900,,,
2026-11-02T10:10:00Z,treatment,latency,1.0,,,
2026-11-02T10:20:00Z,treatment,latency,3.0,,,
2026-11-02T10:10:00Z,control,latency,,2,4.0,10.0
2026-11-02T10:20:00Z,control,latency,,2,8.0,34.0
"""


def test_counters_sum_the_half_open_window_and_accept_variation_labels(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text(CSV)
    source = FileMetricsSource(path)
    assert source.counter("requests", T, WINDOW) == 150  # 10:00 in, 11:00 out, v2.4 counted
    assert source.counter("requests", C, WINDOW) == 900
    assert source.counter("errors", T, WINDOW) is None  # no rows: no data, not zero


def test_values_keep_raw_samples_and_pool_summaries(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text(CSV)
    source = FileMetricsSource(path)
    raw = source.values("latency", T, WINDOW)
    assert raw is not None
    assert (raw.n, raw.mean, raw.samples) == (2, 2.0, (1.0, 3.0))
    assert raw.sd == pytest.approx(2**0.5)
    pooled = source.values("latency", C, WINDOW)
    # the values 1, 3, 3, 5: mean 3, sample variance 8/3
    assert pooled is not None and pooled.samples is None
    assert (pooled.n, pooled.mean) == (4, 3.0)
    assert pooled.sd == pytest.approx((8 / 3) ** 0.5)


def test_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    rows = [
        {"time": "2026-11-02T10:05:00Z", "cohort": "treatment", "metric": "errors", "value": 3},
        {
            "time": "2026-11-02T10:06:00+00:00",
            "cohort": "treatment",
            "metric": "errors",
            "value": 2,
        },
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    assert FileMetricsSource(path).counter("errors", T, WINDOW) == 5


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("time,cohort,metric,value\nyesterday,treatment,x,1\n", "m.csv:2: time 'yesterday'"),
        ("time,cohort,metric,value\n2026-11-02T10:00Z,treatment,x,abc\n", "value 'abc'"),
        ("time,cohort,metric,value\n2026-11-02T10:00Z,,x,1\n", "cohort and metric"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "m.csv"
    path.write_text(content)
    with pytest.raises(BackendError, match=message):
        FileMetricsSource(path).counter("x", T, WINDOW)


def test_missing_file_is_a_backend_error(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="not found"):
        FileMetricsSource(tmp_path / "none.csv").counter("x", T, WINDOW)
