"""DockerSpawner for coursehub: a named server is a (student x course) container.

The course is the server's name: the spawner checks enrolment, takes the course's
image (courses.settings.<course>.image, else spawn.docker.image), gives the server a
volume of its own per (student x course) and the course checkout read-only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dockerspawner import DockerSpawner
from traitlets import Dict, Unicode

from coursehub.config.layout import DataLayout
from coursehub.hub.spawners.container_access import check_course_server
from coursehub.hub.spawners.default_server import CoursesInsteadOfDefaultServer

DEFAULT_SERVER = "_default"  # {course} of the volume of a server that is no course's


class CoursehubDockerSpawner(CoursesInsteadOfDefaultServer, DockerSpawner):
    # Traits of DockerSpawner (a package without types) that this class sets
    user_options: dict[str, Any]
    image: str

    coursehub_db_url = Unicode("", config=True, help="coursehub database URL.")
    data_dir = Unicode("", config=True, help="coursehub data directory (course checkouts).")
    course_images = Dict({}, config=True, help="Image per course; others use DockerSpawner.image.")
    volume_name_template = Unicode(
        "coursehub-{username}-{course}", config=True, help="Volume per (student x course)."
    )
    home_path = Unicode("/home/jovyan", config=True, help="Where the volume is mounted.")
    course_mount_path = Unicode(
        "/srv/coursehub/course", config=True, help="Where the course checkout is, read-only."
    )

    @property
    def course(self) -> str | None:
        return self.name or None

    async def prepare_course(self) -> None:
        """Check the user may run this server, then set image, volumes and env."""
        self.user_options = {}  # nothing a student sends picks an image or a mount
        if self.course:
            await check_course_server(self.user, self.course, self.coursehub_db_url, self.data_dir)
            self.image = self.course_images.get(self.course, self.image)
        volume = self.volume_name_template.format(
            username=self.escaped_name, course=self.course or DEFAULT_SERVER
        )
        self.volumes = {volume: self.home_path}
        if self.course:
            repo = DataLayout(Path(self.data_dir)).course_repo(self.course)
            self.read_only_volumes = {str(repo): self.course_mount_path}
        else:
            self.read_only_volumes = {}

    def get_env(self) -> dict[str, Any]:
        env = super().get_env()
        if self.course:
            env["COURSEHUB_COURSE"] = self.course
            # where the server's workspace extension finds the course (student/workspace)
            env["COURSEHUB_COURSE_DIR"] = self.course_mount_path
        return env

    async def start(self) -> Any:
        await self.prepare_course()
        return await super().start()
