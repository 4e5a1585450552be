"""Student servers in containers: DockerSpawner settings, the spawner, course images."""
