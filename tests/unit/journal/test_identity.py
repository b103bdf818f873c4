"""Who is acting, as records and notifications name them."""

from __future__ import annotations

import socket

import pytest

from rolloutcli.journal.identity import actor


@pytest.mark.parametrize(
    ("environ", "who"),
    [
        ({"ROLLOUT_ACTOR": "release-bot", "GITHUB_ACTIONS": "true"}, "release-bot"),
        (
            {
                "GITHUB_ACTIONS": "true",
                "GITHUB_ACTOR": "octocat",
                "GITHUB_REPOSITORY": "acme/shop",
                "GITHUB_RUN_ID": "42",
            },
            "github-actions:octocat (acme/shop run 42)",
        ),
        ({"GITHUB_ACTIONS": "true"}, "github-actions:unknown"),
        (
            {"GITLAB_CI": "true", "GITLAB_USER_LOGIN": "dev1", "CI_JOB_ID": "7"},
            "gitlab-ci:dev1 (job 7)",
        ),
        ({"JENKINS_URL": "http://j", "BUILD_TAG": "jenkins-shop-12"}, "jenkins:jenkins-shop-12"),
        ({"BUILDKITE": "true", "BUILDKITE_BUILD_CREATOR": "Ann"}, "buildkite:Ann"),
        ({"CI": "true", "USER": "runner"}, "ci:runner"),
    ],
)
def test_actor_from_the_environment(environ: dict[str, str], who: str) -> None:
    assert actor(environ) == who


def test_a_local_user_is_named_with_the_host() -> None:
    assert actor({"USER": "alice"}) == f"alice@{socket.gethostname()}"
    assert actor({"LOGNAME": "bob"}) == f"bob@{socket.gethostname()}"
