"""The robot: its hardware abstraction (RobotHAL), the NAOqi backend and reception behaviours."""
