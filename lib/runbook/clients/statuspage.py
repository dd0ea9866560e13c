"""Atlassian Statuspage: open an incident, or move it along
investigating → identified → monitoring → resolved.

`POST /v1/pages/{page_id}/incidents` and `PATCH /v1/pages/{page_id}/incidents/{id}` with
`{"incident": {...}}`, `Authorization: OAuth <API key>`. A refused key is an AuthError, a 429
a `StatuspageRateLimited` carrying its Retry-After, anything else but 200/201 a ServiceError.
Nothing is retried: a change to the public page is made once or reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from runbook.clients.transport import (
    Timeouts,
    client,
    describe_failure,
    excerpt,
    json_body,
    retry_after_seconds,
    transport_failure,
)
from runbook.core.config import StatuspageConfig
from runbook.core.errors import AuthError, RateLimited, ServiceError, ServiceUnavailable

SERVICE = "Statuspage"


class StatuspageRateLimited(RateLimited):
    """429: nothing was changed; `retry_after` is the wait Statuspage asked for."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(SERVICE, f"rate limited (429, Retry-After {retry_after:g}s): nothing "
                         "was changed")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Incident:
    id: str
    status: str
    page_id: str
    shortlink: str


class StatuspageClient:
    def __init__(self, settings: StatuspageConfig, api_key: str, timeouts: Timeouts) -> None:
        self.settings = settings
        self._api_key = api_key
        self.timeouts = timeouts

    def incidents_url(self, incident_id: str = "") -> str:
        base = f"{self.settings.api_url.rstrip('/')}/pages/{self.settings.page_id}/incidents"
        return f"{base}/{incident_id}" if incident_id else base

    def create_incident(self, name: str, status: str, body: str,
                        impact: str = "critical") -> Incident:
        return self._send("POST", self.incidents_url(), {"incident": {
            "name": name, "status": status, "impact_override": impact, "body": body,
            "component_ids": list(self.settings.component_ids)}})

    def update_incident(self, incident_id: str, status: str, body: str) -> Incident:
        return self._send("PATCH", self.incidents_url(incident_id),
                          {"incident": {"status": status, "body": body}})

    def _send(self, method: str, url: str, payload: dict[str, Any]) -> Incident:
        with client(self.timeouts, {"Authorization": f"OAuth {self._api_key}"}) as http:
            try:
                response = http.request(method, url, json=payload)
            except httpx.HTTPError as exc:
                raise ServiceUnavailable(SERVICE, describe_failure(transport_failure(exc),
                                                                   url)) from None
        if response.status_code in (401, 403):
            raise AuthError(SERVICE, f"refused the API key ({response.status_code}): check "
                            f"${self.settings.api_key_env}")
        if response.status_code == 429:
            raise StatuspageRateLimited(retry_after_seconds(response))
        if response.status_code not in (200, 201):
            raise ServiceError(SERVICE, f"answered {response.status_code}: "
                               f"{excerpt(response.text)}")
        incident = json_body(response, SERVICE)
        if not isinstance(incident, dict) or not incident.get("id"):
            raise ServiceError(SERVICE, "answered without an incident id")
        return Incident(id=str(incident["id"]), status=str(incident.get("status", "")),
                        page_id=str(incident.get("page_id") or self.settings.page_id),
                        shortlink=str(incident.get("shortlink") or ""))

    def describe(self, method: str, incident_id: str = "") -> str:
        """`POST /v1/pages/…/incidents` for a step log: the method and the URL's path."""
        return f"{method} {httpx.URL(self.incidents_url(incident_id)).path}"
