"""Container healthcheck for the worker image: is the worker's Prometheus endpoint answering?

The endpoint is served by the SDK runtime the worker connects with, so it answering means the
process is up and has built its Temporal client. With COMPLAINTS_METRICS_PORT unset or 0 (the
one-shot setup container, or a worker with metrics off) there is nothing to probe: healthy.
Standard library only, so it needs nothing the image does not already have.
"""

import os
import sys
import urllib.request

port = os.environ.get("COMPLAINTS_METRICS_PORT", "").strip()
if port in ("", "0"):
    sys.exit(0)
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=4) as response:
        sys.exit(0 if response.status == 200 else 1)
except OSError as exc:
    print(f"metrics endpoint on port {port} not answering: {exc}", file=sys.stderr)
    sys.exit(1)
