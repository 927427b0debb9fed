"""Import our custom_components package first, so HA's test harness does not shadow it."""

import custom_components  # noqa: F401
