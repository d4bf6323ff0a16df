"""The environment's proxy and CA-bundle settings for a vendor's host, read once per channel.

Both vendor libraries read them from the process environment on every request: `requests` (Twilio)
merges `HTTPS_PROXY`, `NO_PROXY` and `REQUESTS_CA_BUNDLE` per call, and urllib (SendGrid's
`python_http_client`) builds a new opener that scans `os.environ` for `*_proxy` per email. That was
about a tenth of a send's CPU (issue #15, `bench.message_cpu_cuts`). A channel sends to one host
that never changes at run time, and a worker's environment does not change while it runs, so the
answer for that host is the same every time: it is read here once, by each library's own rules,
when the channel is built. A new proxy setting takes effect when the worker restarts, as every other
setting does.
"""

from __future__ import annotations

import urllib.request
from urllib.parse import urlsplit

import requests


def pin_session_settings(session: requests.Session, url: str) -> None:
    """Fix on `session` the proxies and CA bundle the environment gives `url` (requests' own
    `merge_environment_settings`, NO_PROXY included), then stop it reading the environment per
    request (`trust_env`; the only other thing that turns off is `.netrc`, and every request here
    carries its own credentials)."""
    settings = session.merge_environment_settings(url, {}, None, None, None)
    session.proxies = settings["proxies"]
    session.verify = settings["verify"]
    session.trust_env = False


def urllib_proxy_for(url: str) -> str | None:
    """The proxy urllib's default `ProxyHandler` would use for `url` in this environment (what
    SendGrid's library used): `getproxies()` for the URL's scheme, unless `proxy_bypass` (NO_PROXY)
    exempts the host. With a scheme, as a pool needs it (urllib reads `proxy:3128` as http)."""
    parts = urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if not proxy or urllib.request.proxy_bypass(parts.netloc):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"
