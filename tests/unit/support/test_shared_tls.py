"""Every HTTP client of a run shares one TLS context: loading the CA bundle is paid once per
process, not once per plan's platform client."""

from __future__ import annotations

import certifi
import pytest

from rolloutcli.support.http import HttpBackend, shared_tls


def test_platform_clients_share_one_tls_context(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    first = HttpBackend("unleash", "http://127.0.0.1:1", {})
    second = HttpBackend("unleash", "http://127.0.0.1:2", {})
    try:
        assert shared_tls() is shared_tls()
        contexts = [b._client._transport._pool._ssl_context for b in (first, second)]
        assert contexts[0] is contexts[1] is shared_tls()
    finally:
        first.close()
        second.close()


def test_another_ca_bundle_gets_its_own_context(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    default = shared_tls()
    monkeypatch.setenv("SSL_CERT_FILE", certifi.where())
    assert shared_tls() is not default
    assert shared_tls() is shared_tls()
