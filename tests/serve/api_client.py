"""Requests to a test server: status and JSON answer, 4xx returned rather than raised."""

import json
import urllib.error
import urllib.request

from loopback import open_local


def call(url: str, path: str, body=None, *, raw: bytes | None = None, method=None):
    """(status, decoded JSON) of one request; a 4xx is returned, not raised."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with open_local(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
