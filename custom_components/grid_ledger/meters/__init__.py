"""Meter sources read directly by the integration, without Home Assistant imports."""
