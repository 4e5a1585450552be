"""The kernels a course server offers: its course's, under the name notebooks use.

Nearly every notebook names the ``python3`` kernel, which in a plain Jupyter server is
the server's own Python, without the course's packages. In a course server whose
course environment is built (the spawner passes its kernelspec folder as
``CourseKernelSpecManager.course_kernel_dir``):

- the course's kernel is the only Python kernel listed, as ``python3``, with the
  course's title; JupyterLab opens every Python notebook on it, by name or by language;
- it also answers for its own name (``coursehub-<course>``) and for every name in its
  ``metadata.coursehub.aliases`` (the Python kernels the course's notebooks name,
  courses/course_kernel.py), so a notebook or API client asking for those by name gets
  it too; it keeps its ``coursehub-forked`` provisioner, so all of them are forked;
- the server's own Python is listed too, as ``python3-server``, only when the course's
  kernelspec says ``server_python`` (course.yaml ``kernels: {server_python: true}``);
- kernels installed elsewhere on the machine are not offered in a course server.

Without a course kernel (environment not built yet, or a server of no course) this is
jupyter_client's KernelSpecManager unchanged.
"""

from __future__ import annotations

import os
from typing import Any

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager, NoSuchKernel
from jupyter_client.provisioning import KernelProvisionerFactory
from traitlets import Unicode

LISTED_NAME = "python3"
SERVER_PYTHON = "python3-server"


class CourseKernelSpecManager(KernelSpecManager):
    course_kernel_dir = Unicode(
        "",
        config=True,
        help="Folder of the course's kernelspec (kernel.json); empty: no course kernel.",
    )

    def _course_spec(self) -> KernelSpec | None:
        """The course's kernelspec, read fresh (a pull may have rewritten it)."""
        folder = self.course_kernel_dir
        if not folder or not os.path.isfile(os.path.join(folder, "kernel.json")):
            return None
        try:
            return self.kernel_spec_class.from_resource_dir(folder)
        except (OSError, ValueError):
            self.log.warning("The course kernelspec in %s cannot be read", folder)
            return None

    @staticmethod
    def _own(spec: KernelSpec) -> dict[str, Any]:
        own = spec.metadata.get("coursehub") if isinstance(spec.metadata, dict) else None
        return own if isinstance(own, dict) else {}

    def _names(self, spec: KernelSpec) -> set[str]:
        aliases = self._own(spec).get("aliases")
        names = {LISTED_NAME, os.path.basename(os.path.normpath(self.course_kernel_dir))}
        if isinstance(aliases, list):
            names |= {a.lower() for a in aliases if isinstance(a, str)}
        return names

    def find_kernel_specs(self) -> dict[str, str]:
        spec = self._course_spec()
        if spec is None:
            return dict(super().find_kernel_specs())
        found = {LISTED_NAME: self.course_kernel_dir}
        if self._own(spec).get("server_python"):
            from ipykernel.kernelspec import RESOURCES

            found[SERVER_PYTHON] = RESOURCES
        return found

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        spec = self._course_spec()
        if spec is None:
            return super().get_kernel_spec(kernel_name)
        name = kernel_name.lower()
        if name in self._names(spec):
            if not KernelProvisionerFactory.instance(parent=self.parent).is_provisioner_available(
                spec
            ):
                raise NoSuchKernel(kernel_name)
            return spec
        if name == SERVER_PYTHON and self._own(spec).get("server_python"):
            return self._server_python()
        raise NoSuchKernel(kernel_name)

    def _server_python(self) -> KernelSpec:
        from ipykernel.kernelspec import RESOURCES, get_kernel_dict

        spec = self.kernel_spec_class(resource_dir=RESOURCES, **get_kernel_dict())
        spec.display_name = "Python 3 (server)"
        return spec
