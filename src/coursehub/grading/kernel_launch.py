"""The grading kernel's entry point (run with ``python -P``, so nothing in the
submission's work directory can stand in for a module while the kernel starts).

jsonschema, which otter's test classes import, loads rfc3987_syntax when installed,
and that compiles a grammar at import time: about 3 of the 4 seconds every otter test
harness spent on importing before any student code ran. Its IRI format check is never
used in grading, so it is marked absent, as for student servers.
"""

from __future__ import annotations

import sys


def main() -> None:
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    from ipykernel.kernelapp import launch_new_instance

    launch_new_instance()


if __name__ == "__main__":
    main()
