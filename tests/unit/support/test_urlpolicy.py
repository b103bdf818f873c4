"""Which URLs the tool contacts: http(s) only, no link-local or cloud-metadata address unless
ROLLOUT_ALLOW_LINK_LOCAL=1; loopback allowed. No DNS lookups."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from rolloutcli.journal.notify import targets
from rolloutcli.metrics import open_source
from rolloutcli.plan.platform_specs import LaunchDarklySpec, UnleashSpec
from rolloutcli.platforms.launchdarkly import open_launchdarkly
from rolloutcli.platforms.unleash import open_unleash
from rolloutcli.support.errors import InvalidInputError
from rolloutcli.support.urlpolicy import (
    ENV_ALLOW,
    blocked_host,
    check_url,
    literal_address,
    url_problem,
)
from tests.unit.metrics.test_metrics_query_sources import datadog_plan, prometheus_plan

REFUSED = (
    "host 169.254.169.254 is a link-local or cloud-metadata address: refused "
    "(set ROLLOUT_ALLOW_LINK_LOCAL=1 to allow it)"
)


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("http://169.254.1.1:9090", "169.254.1.1"),
        ("https://user:pw@169.254.169.254/", "169.254.169.254"),
        ("http://[fe80::1]:8080/", "fe80::1"),
        ("http://[fe80::1%25eth0]/", "fe80::1%25eth0"),
        ("http://[fd00:ec2::254]/latest", "fd00:ec2::254"),
        ("http://100.100.100.200/latest/meta-data", "100.100.100.200"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata.google.internal"),
        ("http://METADATA.GOOGLE.INTERNAL./", "metadata.google.internal."),
        ("http://metadata.goog/", "metadata.goog"),
        ("http://metadata/", "metadata"),
        ("http://instance-data/latest", "instance-data"),
        ("http://instance-data.ec2.internal/", "instance-data.ec2.internal"),
        ("http://[::ffff:169.254.169.254]/", "::ffff:169.254.169.254"),
        ("http://[64:ff9b::a9fe:a9fe]/", "64:ff9b::a9fe:a9fe"),
        ("http://2852039166/", "2852039166"),  # 169.254.169.254 as one number
        ("http://0xa9.0xfe.0xa9.0xfe/", "0xa9.0xfe.0xa9.0xfe"),
        ("http://0251.0376.0251.0376/", "0251.0376.0251.0376"),  # octal
        ("http://169.254.43518/", "169.254.43518"),
    ],
)
def test_link_local_and_metadata_hosts_are_refused(url: str, host: str) -> None:
    assert url_problem(url, {}) == (
        f"host {host} is a link-local or cloud-metadata address: refused "
        f"(set {ENV_ALLOW}=1 to allow it)"
    )
    for allowed in ("1", "true", "YES", " on "):
        assert url_problem(url, {ENV_ALLOW: allowed}) is None
    for not_allowed in ("", "0", "no", "false"):
        assert url_problem(url, {ENV_ALLOW: not_allowed}) is not None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:4242",
        "http://127.0.0.1:4242/api/",
        "http://localhost:9090",
        "http://[::1]:8080/",
        "https://app.launchdarkly.com",
        "https://api.datadoghq.eu",
        "http://10.0.0.5:9090",
        "http://192.168.1.10",
        "http://169.255.0.1",
        "http://169.253.255.255",
        "http://[fec0::1]/",
        "http://dead.beef/",  # a name, not a number
        "http://metadata.example.com/",
        "https://user:pw@prom.example:9090/prefix",
    ],
)
def test_ordinary_and_loopback_hosts_are_allowed(url: str) -> None:
    assert url_problem(url, {}) is None
    assert check_url(f"  {url} ", "what", {}) == url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("ftp://files.example/x", "ftp://files.example/x"),
        ("file:///etc/passwd", "file:///etc/passwd"),
        ("prom.internal:9090", "prom.internal:9090"),
        ("", ""),
        ("gopher://u:secret-password@host/", "gopher://host/"),
    ],
)
def test_urls_that_are_not_http_are_refused_without_their_credentials(url: str, shown: str) -> None:
    assert url_problem(url, {}) == f"{shown!r} must start with http:// or https://"


def test_a_url_without_a_host_is_refused() -> None:
    assert url_problem("http:///path", {}) == "'http:///path' names no host"
    assert url_problem("https://u:pw@/x", {}) == "'https:///x' names no host"


def test_check_url_is_one_line_of_invalid_input_naming_the_setting() -> None:
    with pytest.raises(InvalidInputError) as info:
        check_url("http://169.254.169.254/", "unleash: UNLEASH_URL / platform.url", {})
    assert str(info.value) == f"unleash: UNLEASH_URL / platform.url: {REFUSED}"
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("169.254.169.254", "169.254.169.254"),
        ("2852039166", "169.254.169.254"),
        ("0xa9fea9fe", "169.254.169.254"),
        ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
        ("127.1", "127.0.0.1"),
        ("[::1]", "::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("example.com", None),
        ("dead.beef", None),
        ("", None),
        ("1.2.3.4.5", None),
    ],
)
def test_literal_addresses_in_every_form_a_resolver_reads(host: str, address: str | None) -> None:
    found = literal_address(host)
    assert found == (None if address is None else ipaddress.ip_address(address))


def test_blocked_host_needs_no_dns() -> None:
    assert blocked_host("169.254.169.254") is True
    assert blocked_host("Metadata.Google.Internal.") is True
    assert blocked_host("127.0.0.1") is False
    assert blocked_host("metadata.google.internal.example.com") is False


# ---------------------------------------------------------------------- where it applies


def test_unleash_refuses_a_metadata_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNLEASH_API_TOKEN", "tok-unleash")
    monkeypatch.delenv(ENV_ALLOW, raising=False)
    with pytest.raises(InvalidInputError) as info:
        open_unleash(UnleashSpec(kind="unleash", url="http://169.254.169.254"), "f", Path("."))
    assert str(info.value) == f"unleash: UNLEASH_URL / platform.url: {REFUSED}"
    monkeypatch.setenv(ENV_ALLOW, "1")
    platform = open_unleash(
        UnleashSpec(kind="unleash", url="http://169.254.169.254"), "f", Path(".")
    )
    platform._http.close()


def test_launchdarkly_refuses_a_metadata_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LD_API_TOKEN", "api-token")
    monkeypatch.setenv("LD_BASE_URL", "http://[fd00:ec2::254]")
    monkeypatch.delenv(ENV_ALLOW, raising=False)
    spec = LaunchDarklySpec(kind="launchdarkly", project="default", environment="production")
    with pytest.raises(InvalidInputError) as info:
        open_launchdarkly(spec, "f", Path("."))
    assert str(info.value) == (
        "launchdarkly: LD_BASE_URL / platform.url: host fd00:ec2::254 is a link-local or "
        "cloud-metadata address: refused (set ROLLOUT_ALLOW_LINK_LOCAL=1 to allow it)"
    )


def test_launchdarkly_shows_its_url_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LD_API_TOKEN", "api-token")
    monkeypatch.setenv("LD_BASE_URL", "https://me:hunter22@ld.example")
    spec = LaunchDarklySpec(kind="launchdarkly", project="default", environment="production")
    platform = open_launchdarkly(spec, "f", Path("."))
    assert platform.describe() == "LaunchDarkly https://ld.example, project default"


def test_metrics_sources_refuse_a_metadata_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_ALLOW, raising=False)
    (tmp_path / "p").mkdir()
    (tmp_path / "d").mkdir()
    with pytest.raises(InvalidInputError) as info:
        open_source(prometheus_plan(tmp_path / "p", url="http://169.254.169.254:9090"))
    assert str(info.value) == (
        "prometheus: metrics.source.url / PROMETHEUS_URL: host 169.254.169.254 is a "
        "link-local or cloud-metadata address: refused (set ROLLOUT_ALLOW_LINK_LOCAL=1 to "
        "allow it)"
    )
    monkeypatch.setenv("DD_API_KEY", "api-key")
    monkeypatch.setenv("DD_APP_KEY", "app-key")
    with pytest.raises(InvalidInputError) as info:
        open_source(datadog_plan(tmp_path / "d", "    url: http://metadata.google.internal\n"))
    assert str(info.value) == (
        "datadog: metrics.source.url / metrics.source.site: host metadata.google.internal is "
        "a link-local or cloud-metadata address: refused (set ROLLOUT_ALLOW_LINK_LOCAL=1 to "
        "allow it)"
    )


def test_a_webhook_to_a_metadata_address_is_never_posted_to() -> None:
    found = targets([], {"ROLLOUT_WEBHOOK_URL": "http://169.254.169.254/latest/meta-data/"})
    assert len(found) == 1
    assert found[0].url is None
    assert found[0].problem == f"ROLLOUT_WEBHOOK_URL: {REFUSED}"
    allowed = targets([], {"ROLLOUT_WEBHOOK_URL": "http://169.254.169.254/x", ENV_ALLOW: "1"})
    assert allowed[0].url == "http://169.254.169.254/x"
    assert allowed[0].problem is None
