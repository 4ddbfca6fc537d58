"""pytest plugins of the suite, loaded by tests/conftest.py (`pytest_plugins`), one per real part:
`smtp` (an SMTP server on loopback), `worker` (the broker's queue and a Celery worker process),
`browser` (Chromium driven by Playwright).

ROOT and IN_CI, used by the conftest and the plugins, are here so that neither imports the other:
a plugin the conftest imported before pytest registers it would not have its asserts rewritten
(PytestAssertRewriteWarning). Helpers of a plugin are imported from it, e.g.
`from tests.plugins.worker import transactional_queue_purge`.
"""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"
