"""Moved to coursehub.hub.spawners.kubernetes; this name stays because Kubernetes values
rendered by earlier releases set it as the hub's spawner_class."""

from coursehub.hub.spawners.kubernetes import CoursehubKubeSpawner  # noqa: F401
