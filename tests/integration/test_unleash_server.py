"""Smoke test of the real Unleash server fixture: health, the admin token, a bad token."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.integration.unleash_server import UnleashServer

pytestmark = [pytest.mark.integration, pytest.mark.unleash]

FEATURES = "/api/admin/projects/default/features"


def test_server_is_healthy_and_the_admin_token_works(unleash_server: UnleashServer) -> None:
    assert unleash_server.url.startswith("http://127.0.0.1:")
    assert set(unleash_server.client_tokens) == {"development", "production"}
    with httpx.Client(base_url=unleash_server.url, timeout=10.0) as http:
        health = http.get("/health")
        assert health.status_code == 200, health.text
        assert health.json()["health"] == "GOOD"

        admin = {"Authorization": unleash_server.admin_token}
        name = f"smoke-{uuid.uuid4().hex[:8]}"
        created = http.post(FEATURES, headers=admin, json={"name": name, "type": "release"})
        assert created.status_code == 201, created.text
        assert created.json()["name"] == name

        fetched = http.get(f"{FEATURES}/{name}", headers=admin)
        assert fetched.status_code == 200, fetched.text
        flag = fetched.json()
        assert flag["name"] == name
        assert flag["project"] == "default"
        assert flag["type"] == "release"
        assert {env["name"] for env in flag["environments"]} >= {"development", "production"}

        bad = http.get(FEATURES, headers={"Authorization": "*:*.not-a-real-token"})
        assert bad.status_code == 401, bad.text
