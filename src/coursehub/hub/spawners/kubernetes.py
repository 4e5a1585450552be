"""KubeSpawner for coursehub: a named server is a (student x course) pod.

The course comes from the server's name, never from the user: the spawner checks
enrolment, picks the course's profile (its image) from the chart's profileList, and
mounts the course's checkout read-only. Students are not shown a profile form.
"""

from __future__ import annotations

from typing import Any

from kubespawner import KubeSpawner
from traitlets import Unicode, default

from coursehub.config.translate import k8s_names as names
from coursehub.hub.spawners.container_access import check_course_server
from coursehub.hub.spawners.default_server import CoursesInsteadOfDefaultServer


class CoursehubKubeSpawner(CoursesInsteadOfDefaultServer, KubeSpawner):
    # Traits of KubeSpawner (a package without types) that this class sets
    volume_mounts: list[dict[str, Any]] | dict[str, dict[str, Any]]
    environment: dict[str, Any]

    coursehub_db_url = Unicode("", config=True, help="coursehub database URL (PostgreSQL).")
    course_data_claim = Unicode(
        names.COURSES_CLAIM, config=True, help="PersistentVolumeClaim of the course checkouts."
    )
    course_mount_path = Unicode(
        names.COURSE_MOUNT, config=True, help="Where a course server sees its course, read-only."
    )

    @default("options_form")
    def _no_profile_form(self) -> str:
        # The course (and so the profile) is the server's name; nothing to choose.
        return ""

    async def load_user_options(self) -> None:
        if self.name:
            await check_course_server(self.user, self.name, self.coursehub_db_url)
        self.user_options = {"profile": self._profile_slug()}
        await super().load_user_options()
        if self.name:
            self._mount_course(self.name)

    def _profile_slug(self) -> str:
        profiles = self.profile_list if isinstance(self.profile_list, list) else []
        slugs = [p.get("slug") for p in profiles]
        if self.name and self.name in slugs:
            return self.name
        default = next((p.get("slug") for p in profiles if p.get("default")), None)
        return default or (slugs[0] if slugs else "")

    def _mount_course(self, course: str) -> None:
        mounts: Any = self.volume_mounts
        mount = {
            "name": names.COURSE_VOLUME,
            "mountPath": self.course_mount_path,
            "subPath": f"{course}/repo",
            "readOnly": True,
        }
        if isinstance(mounts, dict):
            self.volume_mounts = {**mounts, names.COURSE_VOLUME: mount}
        else:
            self.volume_mounts = [*mounts, mount]
        # where the server's workspace extension finds the course (student/workspace)
        self.environment = {
            **self.environment,
            "COURSEHUB_COURSE": course,
            "COURSEHUB_COURSE_DIR": self.course_mount_path,
        }
