"""BLE beacons and digital info screens: frames, drivers and fleet state."""
