"""Onthaal: open software for a city hall's reception robot and info beacons."""

__version__ = "0.1.0"
