"""One guardrail's chart, and the exposure split's, as inline SVG, drawn with matplotlib
(imported here, lazily: only ``rollout report`` pays for it).

Two panels on one time axis: treatment and control as the report's looks saw them, with the
absolute thresholds as lines; below, the change of treatment against control with its
always-valid interval as a band, the relative thresholds as lines, and a triangle where a
look found the guardrail breached in one segment only. Stage boundaries and decisions are
vertical lines across both. The exposure chart: the treatment's share of exposures at each
look against the share the split expects, each look marked with its sample-ratio verdict.
Text stays text (``svg.fonttype: none``), no metadata date, and a fixed hash salt: the
same report draws the same SVG.

matplotlib writes no classes and no tooltips, so each element that a reader (or a test)
looks for is drawn with a group id (``gid``) of our own, and :func:`_decorate` turns that
group into ``<g id=... class="series treatment"><title>...</title>``.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from rolloutcli.support.errors import InvalidInputError

if TYPE_CHECKING:
    from types import ModuleType

    from matplotlib.artist import Artist
    from matplotlib.axes import Axes

INSTALL_HINT = "pip install 'rolloutcli[report]'"
TREATMENT = "#d9480f"
CONTROL = "#1c7ed6"
TIER_COLORS = {"warn": "#f59f00", "pause": "#e8590c", "rollback": "#c92a2a"}
DECISION_COLORS = {
    "advance": "#2f9e44",
    "restart": "#2f9e44",
    "start": "#2f9e44",
    "pause": "#f08c00",
    "resume": "#1971c2",
    "reduce": "#e8590c",
    "rollback": "#c92a2a",
    "kill": "#212529",
    "off": "#212529",
    "unkill": "#495057",
    "knob": "#7048e8",
}
SRM_COLORS = {"ok": "#2f9e44", "mismatch": "#c92a2a"}


@dataclass(frozen=True)
class Line:
    """A horizontal line: a threshold at ``value`` (tier, as written)."""

    value: float
    tier: str
    label: str


@dataclass(frozen=True)
class Mark:
    """A vertical line at ``at``: a stage boundary or a decision; ``title`` is its tooltip."""

    at: datetime
    kind: str  # "stage-boundary" or the decision's event
    title: str


@dataclass(frozen=True)
class ChartData:
    """What one guardrail's chart shows (None where a look had no number)."""

    name: str
    unit: str
    times: Sequence[datetime]
    treatment: Sequence[float | None]
    control: Sequence[float | None]
    change: Sequence[float | None]
    low: Sequence[float | None]
    high: Sequence[float | None]
    change_label: str
    value_lines: Sequence[Line] = ()
    change_lines: Sequence[Line] = ()
    marks: Sequence[Mark] = field(default_factory=tuple)
    breaches: Sequence[Mark] = field(default_factory=tuple)
    """Looks at which one segment breached a tier (``kind``: the tier)."""


@dataclass(frozen=True)
class ExposureData:
    """The exposure split at each look, in % of exposures (None: not checked then), and
    each look's sample-ratio verdict (``ok``, ``mismatch`` or ``unchecked``) and tooltip."""

    times: Sequence[datetime]
    observed: Sequence[float | None]
    expected: Sequence[float | None]
    verdicts: Sequence[str]
    titles: Sequence[str]
    marks: Sequence[Mark] = field(default_factory=tuple)


def chart_svg(data: ChartData) -> str:
    """The chart as an ``<svg>`` element (no XML prolog), ready to inline in HTML."""
    plt = _pyplot()
    with plt.rc_context(
        {"svg.fonttype": "none", "svg.hashsalt": f"rollout-{data.name}", "font.size": 9}
    ):
        figure, (top, bottom) = plt.subplots(
            2, 1, sharex=True, figsize=(9, 4.6), gridspec_kw={"height_ratios": [3, 2]}
        )
        from matplotlib.ticker import FuncFormatter

        extras: dict[str, tuple[str, str]] = {}
        xs = [_days(t) for t in data.times]
        _values(top, xs, data, extras)
        _change(bottom, xs, data, extras)
        for axes in (top, bottom):
            _marks(axes, data.marks, extras, axes is top)
            axes.xaxis_date()
        if len(xs) > 1:
            bottom.set_xlim(xs[0], xs[-1])  # the whole span, looks without data included
        bottom.xaxis.set_major_formatter(FuncFormatter(_time_label))
        figure.autofmt_xdate()
        figure.tight_layout()
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
        plt.close(figure)
    return _decorate(buffer.getvalue(), data.name, extras)


def exposure_svg(data: ExposureData) -> str:
    """The exposure chart as an ``<svg>`` element classed ``exposure`` (not ``chart``: the
    guardrails' charts are the ones with decision marks; this one repeats their lines
    untagged)."""
    plt = _pyplot()
    with plt.rc_context(
        {"svg.fonttype": "none", "svg.hashsalt": "rollout-exposure", "font.size": 9}
    ):
        from matplotlib.ticker import FuncFormatter

        figure, axes = plt.subplots(figsize=(9, 2.6))
        extras: dict[str, tuple[str, str]] = {}
        xs = [_days(t) for t in data.times]
        (line,) = axes.plot(xs, _nan(data.observed), color=TREATMENT, lw=1.5, label="observed")
        _tag(line, extras, "series observed", "treatment's share of exposures (%)")
        (line,) = axes.plot(
            xs, _nan(data.expected), color="#868e96", ls="--", lw=1, label="expected"
        )
        _tag(line, extras, "series expected", "the share the split expects (%)")
        for x, y, verdict, title in zip(xs, data.observed, data.verdicts, data.titles, strict=True):
            if y is not None and verdict in SRM_COLORS:
                shape = "X" if verdict == "mismatch" else "o"
                (point,) = axes.plot([x], [y], shape, color=SRM_COLORS[verdict], ms=6)
                _tag(point, extras, f"srm {verdict}", title)
        _marks(axes, data.marks, extras, False)  # tagged once, on the guardrails' charts
        axes.xaxis_date()
        if len(xs) > 1:
            axes.set_xlim(xs[0], xs[-1])
        axes.xaxis.set_major_formatter(FuncFormatter(_time_label))
        axes.set_ylabel("treatment (% of exposures)")
        axes.set_title("exposure split", loc="left", fontweight="bold")
        axes.legend(loc="upper left", fontsize=8, frameon=False)
        axes.grid(alpha=0.25)
        figure.autofmt_xdate()
        figure.tight_layout()
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
        plt.close(figure)
    svg = _decorate(buffer.getvalue(), "exposure", extras)
    return svg.replace('<svg class="chart" data-guardrail="exposure" ', '<svg class="exposure" ', 1)


def _pyplot() -> ModuleType:
    """matplotlib's pyplot on the file-only backend, or a one-line error saying how to
    install it (it is the optional extra ``report``)."""
    try:
        import matplotlib
    except ImportError as exc:
        raise InvalidInputError(
            f"rollout report --output html draws its charts with matplotlib, which is not "
            f"installed: {INSTALL_HINT} (or use --output markdown)"
        ) from exc
    matplotlib.use("svg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _values(
    axes: Axes, xs: list[float], data: ChartData, extras: dict[str, tuple[str, str]]
) -> None:
    for cohort, values, color in (
        ("treatment", data.treatment, TREATMENT),
        ("control", data.control, CONTROL),
    ):
        (line,) = axes.plot(xs, _nan(values), color=color, marker="o", ms=3, label=cohort)
        _tag(line, extras, f"series {cohort}", f"{cohort} ({data.unit})")
    for item in data.value_lines:
        drawn = axes.axhline(item.value, color=TIER_COLORS[item.tier], ls="--", lw=1)
        _tag(drawn, extras, f"threshold {item.tier}", f"{item.tier} at {item.label}")
    axes.set_ylabel(data.unit)
    axes.set_title(data.name, loc="left", fontweight="bold")
    axes.legend(loc="upper left", fontsize=8, frameon=False)
    axes.grid(alpha=0.25)


def _change(
    axes: Axes, xs: list[float], data: ChartData, extras: dict[str, tuple[str, str]]
) -> None:
    low, high = _nan(data.low), _nan(data.high)
    if any(v is not None for v in data.low):
        band = axes.fill_between(xs, low, high, color=TREATMENT, alpha=0.18, lw=0)
        _tag(band, extras, "interval", "always-valid interval of the change")
    (line,) = axes.plot(xs, _nan(data.change), color=TREATMENT, lw=1.5)
    _tag(line, extras, "series change", data.change_label)
    axes.axhline(0, color="#868e96", lw=0.8)
    for item in data.change_lines:
        drawn = axes.axhline(item.value, color=TIER_COLORS[item.tier], ls="--", lw=1)
        _tag(drawn, extras, f"threshold {item.tier}", f"{item.tier} at {item.label}")
    for breach in data.breaches:
        x = _days(breach.at)
        y = next((c for t, c in zip(data.times, data.change, strict=True) if t == breach.at), None)
        (point,) = axes.plot(
            [x], [0.0 if y is None else y], "v", color=TIER_COLORS[breach.kind], ms=8
        )
        _tag(point, extras, f"segment-breach {breach.kind}", breach.title)
    axes.set_ylabel(data.change_label)
    axes.grid(alpha=0.25)


def _marks(
    axes: Axes, marks: Sequence[Mark], extras: dict[str, tuple[str, str]], top: bool
) -> None:
    """Stage boundaries and decisions; tagged on the top panel only, so each is counted
    once (the bottom panel repeats the line for the eye)."""
    for mark in marks:
        boundary = mark.kind == "stage-boundary"
        color = "#adb5bd" if boundary else DECISION_COLORS.get(mark.kind, "#495057")
        drawn = axes.axvline(_days(mark.at), color=color, ls="-" if boundary else ":", lw=1.2)
        if top:
            classes = "stage-boundary" if boundary else f"decision {_slug(mark.kind)}"
            _tag(drawn, extras, classes, mark.title)


def _tag(artist: Artist, extras: dict[str, tuple[str, str]], classes: str, title: str) -> None:
    gid = f"rc{len(extras)}"
    artist.set_gid(gid)
    extras[gid] = (classes, title)


_GROUP = re.compile(r'<g id="(rc\d+)">')
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL)
"""matplotlib's RDF block (creator, links to vocabularies): nothing a reader needs."""


def _decorate(svg: str, name: str, extras: dict[str, tuple[str, str]]) -> str:
    """The SVG without its prolog and metadata, ``<svg>`` classed as a chart of ``name``,
    each tagged group given its classes and tooltip (and an id unique in the page)."""

    def tagged(match: re.Match[str]) -> str:
        gid = match.group(1)
        classes, title = extras[gid]
        return (
            f'<g id="{_slug(name)}-{gid}" class="{html.escape(classes)}">'
            f"<title>{html.escape(title, quote=False)}</title>"
        )

    body = _METADATA.sub("", svg[svg.index("<svg") :])
    body = body.replace("<svg ", f'<svg class="chart" data-guardrail="{html.escape(name)}" ', 1)
    return _GROUP.sub(tagged, body)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", name)


def _nan(values: Sequence[float | None]) -> list[float]:
    return [float("nan") if v is None else v for v in values]


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""matplotlib's date axis counts days since this moment (its default epoch)."""


def _days(at: datetime) -> float:
    return (at - EPOCH) / timedelta(days=1)


def _time_label(days: float, _position: int | None) -> str:
    return f"{EPOCH + timedelta(days=days):%m-%d %H:%M}"
