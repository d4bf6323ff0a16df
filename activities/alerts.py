"""Internal alerts to staff: breaches, failed sends, cases that need a person."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path

from temporalio import activity

from domain.models import AlertRequest
from ops.private_files import private_dir, private_opener

log = logging.getLogger(__name__)


class AlertActivities:
    """Embedded default: one JSON file per alert under <data>/alerts, named by its key.

    Writing by key makes a retried activity overwrite its own alert rather than raise a second one.
    """

    def __init__(self, alerts_dir: Path) -> None:
        self._dir = alerts_dir

    @activity.defn(name="raise_internal_alert")
    async def raise_internal_alert(self, alert: AlertRequest) -> str:
        private_dir(self._dir)  # alerts quote case details: 0700 folder, 0600 files
        path = self._dir / f"{alert.key.replace('/', '_')}.json"
        record = alert.model_dump(mode="json") | {"raised_at": datetime.now(timezone.utc).isoformat()}
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8", opener=private_opener) as handle:
            handle.write(json.dumps(record, indent=2))
        tmp.replace(path)
        log.warning("alert for %s to %s: %s", alert.reference, alert.to_role.value, alert.subject)
        return str(path)
