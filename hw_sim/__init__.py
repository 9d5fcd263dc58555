"""The hardware simulator: stands in for the robot, beacons and screens at the wire."""
