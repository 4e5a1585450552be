"""Attacks by an instructor's environment.yml on the rules a requirements file obeys.

courses/requirements.py refuses package sources (`--index-url`, `--extra-index-url`,
`--find-links`, `--trusted-host`) and editable installs in course files. An
environment.yml's `pip:` entries are checked one entry at a time, but pip reads them
from a file joined with newlines (courses/environment.py `_pip_part_file`), so a
single YAML string holding a newline becomes two lines for pip, and the second one is
never checked.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from coursehub.courses.environment_errors import RequirementsError
from coursehub.courses.requirements import read_requirements


@pytest.mark.parametrize(
    "hidden",
    [
        "--index-url https://evil.example/simple",
        "--extra-index-url https://evil.example/simple",
        "-e /opt/elsewhere",
        "--trusted-host evil.example",
    ],
)
def test_environment_yml_pip_entry_with_a_newline_cannot_smuggle_an_option(
    tmp_path: Path, hidden: str
) -> None:
    env = tmp_path / "environment.yml"
    # YAML double-quoted string: one list item, two lines once pip reads the file
    env.write_text(f'dependencies:\n  - pip:\n    - "tabulate/\\n{hidden}"\n')
    try:
        inputs = read_requirements(env, tmp_path)
    except RequirementsError:
        return  # refused: what the rules ask for
    # Accepted: what pip will read, line by line, from the file the build writes.
    assert inputs.pip_text is not None
    pip_lines = inputs.pip_text.splitlines()
    assert hidden not in pip_lines, f"pip will read {hidden!r} as an option line"


@pytest.mark.parametrize(
    "conda",
    ["x ==/../../outside/pkg", "x==/../../../srv/other-course/pkg.whl"],
)
def test_environment_yml_conda_entry_cannot_name_a_path_outside_the_repository(
    tmp_path: Path, conda: str
) -> None:
    """requirements.txt's rule ("points outside the course repository") for the conda
    part: `pip install 'x==/../../outside/pkg'` run in a checkout holding a folder
    named `x==` prints "Processing <...>/outside/pkg" and builds it (checked by hand
    with pip 26.3). Each conda entry should reach pip as a name and a version only."""
    repo = tmp_path / "repo"
    (repo / "x==").mkdir(parents=True)
    env = repo / "environment.yml"
    env.write_text(f"dependencies:\n  - {conda}\n")
    try:
        inputs = read_requirements(env, repo)
    except RequirementsError:
        return  # refused: what the rules ask for
    assert not any("/" in spec for spec in inputs.conda), inputs.conda
