"""`rollout plan`: the plan's JSON Schema, and a plan drafted from the metrics' history.

``plan suggest`` has many options; each is declared once here, as an annotated type, and
they travel to :mod:`rolloutcli.app.suggest` as one :class:`SuggestOptions`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rolloutcli.cli.base import AtOption, JsonFlag, now_or_at, reports_errors
from rolloutcli.cli.scripting import emit, json_errors
from rolloutcli.plan.platform_specs import platform_kinds_text
from rolloutcli.plan.source_specs import query_kinds_text, source_kinds_text

if TYPE_CHECKING:
    from rolloutcli.app.suggest import Suggested

plan_app = typer.Typer(help="Plan utilities (JSON Schema for editors).", no_args_is_help=True)


@plan_app.command("schema")
@reports_errors
def plan_schema(
    json_output: Annotated[
        bool, typer.Option("--json", help="Accepted for symmetry: the output is JSON already.")
    ] = False,
) -> None:
    """Print the plan's JSON Schema (point your editor's YAML support at it)."""
    import json

    from rolloutcli.plan.model import plan_json_schema

    typer.echo(json.dumps(plan_json_schema(), indent=2))


def _no_default(name: str, text: str) -> Any:
    """An option whose help shows no default (repeatable ones, and those left out)."""
    return typer.Option(name, help=text, show_default=False)


FlagArgument = Annotated[str, typer.Argument(help="The flag key the plan rolls out.")]
MetricsSource = Annotated[str, typer.Option("--metrics-source", help=f"{source_kinds_text()}.")]
Ratios = Annotated[
    list[str] | None,
    _no_default(
        "--ratio",
        "A ratio guardrail: NAME=EVENTS/TRIALS (metric names), e.g. "
        "error_rate=errors/requests. Repeatable.",
    ),
]
Means = Annotated[
    list[str] | None,
    _no_default(
        "--mean", "A mean guardrail: NAME=METRIC, e.g. p99_latency=latency_p99_ms. Repeatable."
    ),
]
Queries = Annotated[
    list[str] | None,
    _no_default(
        "--query",
        f"NAME=TEMPLATE for each metric ({query_kinds_text('and')}), with {{cohort}} "
        "{role} {flag} {window} placeholders. Repeatable.",
    ),
]
Steps = Annotated[
    list[str] | None, _no_default("--step", "METRIC=5m: one value per step for a mean's query.")
]
Detects = Annotated[
    list[str] | None,
    _no_default(
        "--detect",
        "The smallest regression each stage must see: 20% (every guardrail, in its "
        "worse direction; default 20%) or NAME=10%. Repeatable.",
    ),
]
LowerIsWorse = Annotated[
    list[str] | None, _no_default("--lower-is-worse", "NAME: a guardrail where lower is worse.")
]
LogScale = Annotated[
    list[str] | None, _no_default("--log", "NAME: compare a mean on the log scale (latencies).")
]
SegmentsBy = Annotated[
    list[str] | None,
    _no_default(
        "--segments-by",
        "Labels to try as segment breakdowns of the ratio guardrails, e.g. region,platform "
        "(the file source also tries its label columns): one is proposed where history "
        "shows its segments' rates differ. Repeatable.",
    ),
]
Exposures = Annotated[
    str | None,
    _no_default("--exposures", "Counter of units per cohort (default: the first ratio's trials)."),
]
Stages = Annotated[str, typer.Option("--stages", help="Stage percentages, the last 100.")]
Lookback = Annotated[str, typer.Option("--lookback", help="History to read.")]
Power = Annotated[float, typer.Option("--power", help="statistics.power.")]
Alpha = Annotated[float, typer.Option("--alpha", help="statistics.alpha.")]
MinWindow = Annotated[str, typer.Option("--min-window", help="The shortest stage window.")]
Url = Annotated[
    str | None,
    _no_default(
        "--url",
        "Metrics backend URL, written into the plan (default: PROMETHEUS_URL, or Datadog's site).",
    ),
]
Site = Annotated[str | None, _no_default("--site", "Datadog site.")]
Headers = Annotated[
    list[str] | None,
    _no_default(
        "--header",
        "json: NAME=VARIABLE, a request header whose value is read from that environment "
        "variable (e.g. Authorization=METRICS_AUTH); the plan names the variable, never the "
        "value. Repeatable.",
    ),
]
Region = Annotated[
    str | None,
    _no_default(
        "--region", "cloudwatch: the AWS region (default: AWS_REGION, else AWS_DEFAULT_REGION)."
    ),
]
EndpointUrl = Annotated[
    str | None,
    _no_default(
        "--endpoint-url",
        "cloudwatch: another endpoint, e.g. a VPC endpoint (default: AWS's, or "
        "AWS_ENDPOINT_URL_CLOUDWATCH).",
    ),
]
MetricsFile = Annotated[
    str | None,
    _no_default(
        "--metrics-file",
        "The file source's path, from the current directory (written relative to the plan).",
    ),
]
Platform = Annotated[str, typer.Option("--platform", help=f"{platform_kinds_text()}.")]
FlagFile = Annotated[
    str | None,
    _no_default(
        "--flag-file",
        "flagfile: the flagd file, from the current directory (written relative to the plan).",
    ),
]
Project = Annotated[str | None, _no_default("--project", "unleash/launchdarkly project.")]
Environment = Annotated[str, typer.Option("--environment")]
Treatment = Annotated[str, typer.Option("--treatment", help="Treatment variation.")]
OutFile = Annotated[
    Path | None,
    _no_default(
        "--out",
        "Write the plan to this new file (paths in it relative to its folder) instead of "
        "printing it (paths then relative to ./plans, where rollout check NAME looks).",
    ),
]
Control = Annotated[str, typer.Option("--control", help="Control variation.")]


@plan_app.command("suggest")
@reports_errors
@json_errors
def plan_suggest(
    flag: FlagArgument,
    metrics_source: MetricsSource,
    ratio: Ratios = None,
    mean: Means = None,
    query: Queries = None,
    step: Steps = None,
    detect: Detects = None,
    lower_is_worse: LowerIsWorse = None,
    log: LogScale = None,
    segments_by: SegmentsBy = None,
    exposures: Exposures = None,
    stages: Stages = "1,5,10,25,50,100",
    lookback: Lookback = "14d",
    power: Power = 0.9,
    alpha: Alpha = 0.05,
    min_window: MinWindow = "30m",
    url: Url = None,
    site: Site = None,
    header: Headers = None,
    region: Region = None,
    endpoint_url: EndpointUrl = None,
    metrics_file: MetricsFile = None,
    platform: Platform = "flagfile",
    flag_file: FlagFile = None,
    project: Project = None,
    environment: Environment = "production",
    treatment: Treatment = "true",
    control: Control = "false",
    at: AtOption = None,
    out: OutFile = None,
    json_output: JsonFlag = False,
) -> None:
    """Draft a plan from the metrics' recent history: stage windows long enough to see
    each --detect regression at --power, thresholds above healthy noise. Prints YAML with
    a comment on every number; save it and edit it. --json prints the plan as JSON with
    the evidence behind its numbers."""
    from rolloutcli.app.suggest import SuggestOptions, build_request, plan_folder, suggest_plan

    folder, folder_note = plan_folder(out)
    options = SuggestOptions(
        flag=flag,
        metrics_source=metrics_source,
        url=url,
        site=site,
        headers=tuple(header or ()),
        region=region,
        endpoint_url=endpoint_url,
        metrics_file=metrics_file,
        queries=tuple(query or ()),
        steps=tuple(step or ()),
        ratios=tuple(ratio or ()),
        means=tuple(mean or ()),
        lower_is_worse=tuple(lower_is_worse or ()),
        log=tuple(log or ()),
        segments_by=tuple(segments_by or ()),
        exposures=exposures,
        detect=tuple(detect or ()),
        stages=stages,
        lookback=lookback,
        min_window=min_window,
        power=power,
        alpha=alpha,
        platform=platform,
        flag_file=flag_file,
        project=project,
        environment=environment,
        treatment=treatment,
        control=control,
        plan_dir=folder,
        plan_dir_note=folder_note,
    )
    _show(suggest_plan(build_request(options, now_or_at(at))), out, json_output)


def _show(suggested: Suggested, out: Path | None, json_output: bool) -> None:
    """The suggested plan: printed, or saved to ``--out`` (saying so); as JSON with --json."""
    from rolloutcli.app.suggest import save_plan
    from rolloutcli.render.contract import suggest_json

    written = save_plan(out, suggested.text) if out is not None else None
    if json_output:
        emit(suggest_json(suggested, written))
    elif written is None:
        typer.echo(suggested.text, nl=False)
    else:
        typer.echo(f"wrote {written}")
