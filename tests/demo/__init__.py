"""The demo: Grid Ledger on real parts (anvil, the ESPHome simulator, Home Assistant)."""
