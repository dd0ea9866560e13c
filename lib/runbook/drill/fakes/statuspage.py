"""A fake Atlassian Statuspage API on loopback: incidents create (`POST`) and update
(`PATCH`) under `/v1/pages/{page_id}/incidents`, with `Authorization: OAuth <key>`.

Answers in Statuspage's shapes: the incident object with its `incident_updates`, 401
`{"error": "Could not authenticate"}`, 404 for an unknown page or incident, and 422 for a
status outside investigating, identified, monitoring, resolved.
"""

from __future__ import annotations

import re
import secrets as _random
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from runbook.drill.fakes.faults import Faults
from runbook.drill.fakes.server import FakeService, Request, Response, json_response

if TYPE_CHECKING:
    from runbook.drill.target import Target

API_KEY_ENV = "DRILL_STATUSPAGE_API_KEY"
STATUSES = ("investigating", "identified", "monitoring", "resolved")
IMPACTS = ("none", "minor", "major", "critical")
_PATH = re.compile(r"^/v1/pages/(?P<page>[^/]+)/incidents(?:/(?P<incident>[^/]+))?/?$")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _new_id() -> str:
    return _random.token_hex(6)


class FakeStatuspage(FakeService):
    name = "statuspage"

    def __init__(self, api_key: str, page_id: str = "") -> None:
        super().__init__()
        self.api_key = api_key
        self.page_id = page_id or _new_id()
        self.incidents: dict[str, dict[str, Any]] = {}
        self.faults = Faults()

    def handle(self, request: Request) -> Response:
        canned = self.faults.take()
        if canned is not None:
            return canned
        if request.headers.get("Authorization") != f"OAuth {self.api_key}":
            return json_response({"error": "Could not authenticate"}, 401)
        match = _PATH.match(request.path)
        if not match or match["page"] != self.page_id:
            return json_response({"error": "Not found"}, 404)
        try:
            body = request.json()
        except ValueError:
            body = None
        with self.lock:
            if request.method == "GET":
                return self._get(match["incident"])
            if not isinstance(body, dict) or not isinstance(body.get("incident"), dict):
                return json_response({"error": "incident is missing"}, 400)
            if request.method == "POST" and not match["incident"]:
                return self._create(body["incident"])
            if request.method in ("PATCH", "PUT") and match["incident"]:
                return self._update(match["incident"], body["incident"])
        return json_response({"error": "Not found"}, 404)

    def _get(self, incident_id: str | None) -> Response:
        if incident_id is None:
            return json_response(list(self.incidents.values()))
        incident = self.incidents.get(incident_id)
        return json_response(incident) if incident else json_response({"error": "Not found"}, 404)

    def _invalid(self, spec: dict[str, Any]) -> str:
        status = spec.get("status", "investigating")
        if status not in STATUSES:
            return f"Status {status!r} is not included in the list"
        impact = spec.get("impact_override")
        if impact is not None and impact not in IMPACTS:
            return f"Impact override {impact!r} is not included in the list"
        return ""

    def _update_entry(self, incident_id: str, status: str, body: str) -> dict[str, Any]:
        now = _now()
        return {"id": _new_id(), "incident_id": incident_id, "status": status, "body": body,
                "created_at": now, "updated_at": now, "display_at": now,
                "affected_components": None, "deliver_notifications": True}

    def _create(self, spec: dict[str, Any]) -> Response:
        if not spec.get("name"):
            return json_response({"error": "Name can't be blank"}, 422)
        problem = self._invalid(spec)
        if problem:
            return json_response({"error": problem}, 422)
        incident_id = _new_id()
        now = _now()
        status = spec.get("status", "investigating")
        incident = {
            "id": incident_id, "name": spec["name"], "status": status,
            "impact": spec.get("impact_override") or "none",
            "impact_override": spec.get("impact_override"),
            "created_at": now, "updated_at": now, "monitoring_at": None,
            "resolved_at": now if status == "resolved" else None,
            "shortlink": f"https://stspg.io/{incident_id[:5]}", "page_id": self.page_id,
            "component_ids": list(spec.get("component_ids") or []),
            "incident_updates": [self._update_entry(incident_id, status,
                                                    str(spec.get("body", "")))]}
        self.incidents[incident_id] = incident
        return json_response(incident, 201)

    def _update(self, incident_id: str, spec: dict[str, Any]) -> Response:
        incident = self.incidents.get(incident_id)
        if incident is None:
            return json_response({"error": "Not found"}, 404)
        problem = self._invalid({"status": incident["status"], **spec})
        if problem:
            return json_response({"error": problem}, 422)
        now = _now()
        status = spec.get("status", incident["status"])
        incident.update(status=status, updated_at=now)
        if status == "monitoring" and not incident["monitoring_at"]:
            incident["monitoring_at"] = now
        if status == "resolved":
            incident["resolved_at"] = now
        incident["incident_updates"].insert(
            0, self._update_entry(incident_id, status, str(spec.get("body", ""))))
        return json_response(incident)


def with_statuspage(target: Target) -> FakeStatuspage:
    """Serve a fake Statuspage for `target`: the config's [statuspage] and the API key."""
    key = target.secret(API_KEY_ENV)
    fake = FakeStatuspage(key)
    server = target.serve(fake)
    target.sections["statuspage"] = {"page_id": fake.page_id, "api_url": server.url + "/v1",
                                     "api_key_env": API_KEY_ENV, "component_ids": ["api"]}
    target.extras["statuspage"] = fake
    return fake
