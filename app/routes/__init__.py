"""One blueprint per module, each object named `bp`."""
