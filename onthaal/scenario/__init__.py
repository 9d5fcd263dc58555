"""Headless simulation for integrators: a whole day at the city hall, scripted."""
