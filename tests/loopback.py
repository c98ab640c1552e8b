"""HTTP to the tests' own servers only: loopback addresses, never a proxy, never the network.

``urllib.request.urlopen`` follows ``http_proxy`` from the environment, even for
127.0.0.1 unless ``no_proxy`` says otherwise; this opener has no proxy handler,
and refuses any host that is not this machine, so no test can reach the network.
"""

import ipaddress
import urllib.request
from typing import Any
from urllib.parse import urlsplit

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def open_local(request: str | urllib.request.Request, *, timeout: float) -> Any:
    """``urlopen`` for a loopback URL (``http://127.0.0.1:PORT/...``, ``[::1]``), no proxy."""
    url = request if isinstance(request, str) else request.full_url
    host = urlsplit(url).hostname or ""
    if not ipaddress.ip_address(host).is_loopback:
        raise AssertionError(f"a test may only open loopback addresses, not {url}")
    return _OPENER.open(request, timeout=timeout)
