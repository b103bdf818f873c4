"""The Kubernetes manifests under ``deploy/`` are what a team applies as is: each document
validates against Kubernetes' own schemas (strict: an unknown field is an error), the CronJob
keeps the properties the fleet set-up relies on, and its command line is one the installed
``rollout`` accepts, so a renamed option fails here rather than in a cluster at 3 a.m."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import typer
import yaml

from rolloutcli.cli.main import build_app

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
OLDEST = "1.27.0"
"""The oldest Kubernetes the manifests support: CronJob's ``timeZone`` is GA from 1.27."""


def _documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                found.append((f"{path.name}:{doc['kind']}/{doc['metadata']['name']}", doc))
    return found


DOCUMENTS = _documents()


def _cronjob() -> dict[str, Any]:
    (job,) = [doc for _, doc in DOCUMENTS if doc["kind"] == "CronJob"]
    return job


def _pod(cronjob: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return spec


def test_the_manifests_hold_the_expected_documents() -> None:
    assert sorted(name for name, _ in DOCUMENTS) == [
        "rollout-watch.yaml:CronJob/rollout-watch",
        "rollout-watch.yaml:PersistentVolumeClaim/rollout-state",
        "secret.example.yaml:Secret/rollout-secrets",
    ]


@pytest.mark.parametrize("version", [OLDEST, kubernetes_validate.latest_version()])
@pytest.mark.parametrize(("name", "doc"), DOCUMENTS, ids=[name for name, _ in DOCUMENTS])
def test_each_document_validates_strictly(name: str, doc: dict[str, Any], version: str) -> None:
    kubernetes_validate.validate(doc, version, strict=True)


def test_a_misspelt_field_is_caught_by_the_same_validation() -> None:
    """The validation above can fail: a field Kubernetes does not know is refused."""
    broken = yaml.safe_load(yaml.safe_dump(_cronjob()))
    broken["spec"]["concurencyPolicy"] = broken["spec"].pop("concurrencyPolicy")
    with pytest.raises(kubernetes_validate.ValidationError, match="concurencyPolicy"):
        kubernetes_validate.validate(broken, kubernetes_validate.latest_version(), strict=True)


def test_the_cronjob_never_overlaps_and_drops_late_rounds() -> None:
    spec = _cronjob()["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["schedule"] == "*/5 * * * *"
    assert spec["startingDeadlineSeconds"] == 120  # under the 300 s between two rounds
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0
    assert job["activeDeadlineSeconds"] == 240  # a round ends before the next is due


def test_secrets_come_from_the_environment_and_the_store_is_postgresql() -> None:
    pod = _pod(_cronjob())
    (watch,) = pod["containers"]
    env = {item["name"]: item for item in watch["env"]}
    assert env["ROLLOUT_RECORDS"]["valueFrom"]["secretKeyRef"] == {
        "name": "rollout-secrets",
        "key": "ROLLOUT_RECORDS",
    }
    assert watch["envFrom"] == [{"secretRef": {"name": "rollout-secrets"}}]
    assert [name for name, item in env.items() if "value" in item] == ["ROLLOUT_ACTOR"]
    (secret,) = [doc for _, doc in DOCUMENTS if doc["kind"] == "Secret"]
    assert secret["stringData"]["ROLLOUT_RECORDS"].startswith("postgresql://")


def test_nothing_in_the_pod_runs_as_root_or_writes_its_image() -> None:
    pod = _pod(_cronjob())
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    for container in pod["initContainers"] + pod["containers"]:
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}


def test_the_plans_and_the_state_share_the_persistent_volume() -> None:
    """The spool and lock files live in the plans folder's ``.rollout/``, which must outlive
    the pod: the plans are copied onto the claim, and watch reads them there."""
    pod = _pod(_cronjob())
    (watch,) = pod["containers"]
    mounts = {m["name"]: m["mountPath"] for m in watch["volumeMounts"]}
    assert mounts["state"] == "/state"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["state"]["persistentVolumeClaim"] == {"claimName": "rollout-state"}
    assert volumes["plans"]["configMap"] == {"name": "rollout-plans"}
    (copy,) = pod["initContainers"]
    assert "/state/plans" in copy["command"][-1]
    assert watch["args"][watch["args"].index("--plans-dir") + 1] == "/state/plans"


def test_the_command_line_is_one_rollout_accepts() -> None:
    """Parsed by the installed CLI's own parser: every option exists and takes its value."""
    (watch,) = _pod(_cronjob())["containers"]
    name, *args = watch["args"]
    group = typer.main.get_command(build_app(name))
    command = group.commands[name]  # type: ignore[attr-defined]
    context = command.make_context(name, list(args))
    assert context.params["auto"] is True
    assert context.params["once"] is True
    assert context.params["all_plans"] is True
    assert str(context.params["plans_dir"]) == "/state/plans"
