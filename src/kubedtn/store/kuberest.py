"""The REST paths of any resource and one request to them, through the official client's
``ApiClient`` (its configuration, authentication and connection pool).

The generated per-group APIs (``CoreV1Api``, ``CustomObjectsApi``, ...) each know one shape
of path; the store speaks every resource alike, so it computes the path from the
:class:`~kubedtn.store.resource.Resource`: ``/api/v1/...`` for the core group (``""``),
``/apis/GROUP/VERSION/...`` for the others, ``namespaces/NS/`` only for namespaced kinds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import urllib3
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from kubedtn.store.resource import Resource

Query = Sequence[tuple[str, str]]


def resource_path(resource: Resource, namespace: str | None, name: str = "", subresource: str = "") -> str:
    """The URL path of a collection (no name), one object, or one object's subresource.

    ``namespace`` is ignored for cluster-scoped kinds; for namespaced ones None or "" is the
    collection across all namespaces (a name needs a namespace).
    """
    base = f"/api/{resource.version}" if not resource.group else f"/apis/{resource.group}/{resource.version}"
    parts = [base]
    if resource.namespaced and namespace:
        parts.append(f"namespaces/{quote(namespace, safe='')}")
    parts.append(resource.plural)
    if name:
        parts.append(quote(name, safe=""))
        if subresource:
            parts.append(subresource)
    return "/".join(parts)


def request(
    client: k8s.ApiClient,
    method: str,
    path: str,
    *,
    query: Query = (),
    body: object = None,
    stream: bool = False,
    timeout: float | None = None,
) -> Any:
    """One request: the decoded JSON answer, or with ``stream`` the open urllib3 response
    (for a watch). A non-2xx answer raises the client's ``ApiException``; no answer raises
    urllib3's errors (``kubedtn.store.kube.api_errors`` maps both).

    With ``timeout`` the request is one attempt of at most that many seconds in all: the
    client's connection pool would otherwise try a silent server again (urllib3 retries an
    idempotent request three times), taking four times as long.
    """
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    method_, url, headers, body, _ = client.param_serialize(
        method=method,
        resource_path=path,
        query_params=list(query),
        header_params=headers,
        body=body,
        auth_settings=["BearerToken"],
    )
    if timeout is not None and not stream:
        return _one_attempt(client, method_, url, headers=headers, body=body, timeout=timeout)
    response = client.call_api(method_, url, headers, body)
    if stream:
        if not 200 <= response.status <= 299:
            response.read()  # type: ignore[no-untyped-call]
            raise ApiException.from_response(http_resp=response, body=None, data=None)
        return response.response
    response.read()  # type: ignore[no-untyped-call]
    if not 200 <= response.status <= 299:
        raise ApiException.from_response(http_resp=response, body=None, data=None)
    return json.loads(response.data) if response.data else {}


def _one_attempt(
    client: k8s.ApiClient, method: str, url: str, *, headers: dict[str, str], body: object, timeout: float
) -> Any:
    answer = client.rest_client.pool_manager.request(
        method,
        url,
        body=None if body is None else json.dumps(body),
        headers=headers,
        timeout=urllib3.Timeout(total=timeout),
        retries=False,
    )
    if not 200 <= answer.status <= 299:
        raise ApiException(
            status=answer.status, reason=answer.reason, body=answer.data.decode(errors="replace")
        )
    return json.loads(answer.data) if answer.data else {}
