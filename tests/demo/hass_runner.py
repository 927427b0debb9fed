"""Start Home Assistant's own `main()`.

HA 2026.2.3 declares Python >= 3.13.2 and its entry point exits on older 3.13 releases; its
harness and server run on 3.13.0, so only that one check is skipped, and only there.
"""

import sys

import homeassistant.__main__ as ha_main

if (3, 13, 0) <= sys.version_info[:3] < (3, 13, 2):
    ha_main.validate_python = lambda: None

sys.exit(ha_main.main())
