"""The grading benchmark's assignments, in both authoring formats, and the answers.

``sim``: three questions whose answers do real computation (a numpy Monte Carlo
estimate of pi, Conway's game of life in pure Python, the longest Collatz chain in
pure Python); the sizes set how long it takes. ``trivial``: one question and one line,
for the fixed cost of grading a submission. The same questions, tests and points in an
otter assign master notebook and an nbgrader source notebook.

Each question has a public and a hidden test. The expected points of every answer
variant come from running the answer's code and the tests here, before anything is
graded; a variant either passes all of a question's tests or none, so otter (points
per test case) and nbgrader (points per test cell) give it the same total.
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


@dataclass(frozen=True)
class Sizes:
    pi_points: int
    life_size: int
    life_cells: int
    life_generations: int
    collatz_limit: int

    @classmethod
    def scaled(cls, work: float) -> Sizes:
        """work 1.0: about 1 s of computation per submission on one core here."""
        return cls(
            pi_points=max(1000, int(15_000_000 * work)),
            life_size=64,
            life_cells=1200,
            life_generations=max(2, int(150 * work)),
            collatz_limit=max(20, int(75_000 * work)),
        )

    def setup_cell(self) -> str:
        return (
            "import random\n\nimport numpy as np\n\n"
            f"PI_POINTS = {self.pi_points}\n"
            f"LIFE_SIZE = {self.life_size}\n"
            f"LIFE_CELLS = {self.life_cells}\n"
            f"LIFE_GENERATIONS = {self.life_generations}\n"
            f"COLLATZ_LIMIT = {self.collatz_limit}\n"
        )


@dataclass(frozen=True)
class Question:
    name: str
    points: int
    prompt: str
    head: str  # first line of the answer cell: how answers find it
    solution: str  # the body below `head`
    wrong: str  # a plausible wrong body, same amount of work
    run: str  # the cell after the answer: computes the result the hidden test checks
    public: str  # test expressions (True when passed); $name: a value computed here
    hidden: str


QUESTIONS = [
    Question(
        "q1",
        2,
        "Estimate pi by throwing `n` random points into the unit square (numpy, "
        "`np.random.default_rng(seed)`, in batches of a million).",
        "def estimate_pi(n, seed):",
        "    rng = np.random.default_rng(seed)\n"
        "    inside = done = 0\n"
        "    while done < n:\n"
        "        k = min(1_000_000, n - done)\n"
        "        x, y = rng.random(k), rng.random(k)\n"
        "        inside += int(np.count_nonzero(x * x + y * y <= 1.0))\n"
        "        done += k\n"
        "    return 4 * inside / n\n",
        "    rng = np.random.default_rng(seed)\n"
        "    inside = done = 0\n"
        "    while done < n:\n"
        "        k = min(1_000_000, n - done)\n"
        "        x, y = rng.random(k), rng.random(k)\n"
        "        inside += int(np.count_nonzero(x + y <= 1.0))\n"
        "        done += k\n"
        "    return 4 * inside / n\n",
        "pi_hat = estimate_pi(PI_POINTS, 0)\npi_hat",
        "abs(estimate_pi(20_000, 1) - 3.14159) < 0.1",
        "abs(pi_hat - $pi_hat) < 1e-12",
    ),
    Question(
        "q2",
        3,
        "Run Conway's game of life on a `size` × `size` torus for `generations` steps; "
        "`cells` is the set of live (row, column) pairs.",
        "def life(cells, generations, size):",
        "    live = set(cells)\n"
        "    for _ in range(generations):\n"
        "        counts = {}\n"
        "        for r, c in live:\n"
        "            for dr in (-1, 0, 1):\n"
        "                for dc in (-1, 0, 1):\n"
        "                    if dr or dc:\n"
        "                        key = ((r + dr) % size, (c + dc) % size)\n"
        "                        counts[key] = counts.get(key, 0) + 1\n"
        "        live = {k for k, n in counts.items() if n == 3 or (n == 2 and k in live)}\n"
        "    return live\n",
        "    live = set(cells)\n"
        "    for _ in range(generations):\n"
        "        counts = {}\n"
        "        for r, c in live:\n"
        "            for dr in (-1, 0, 1):\n"
        "                for dc in (-1, 0, 1):\n"
        "                    if dr or dc:\n"
        "                        key = ((r + dr) % size, (c + dc) % size)\n"
        "                        counts[key] = counts.get(key, 0) + 1\n"
        "        live = {k for k, n in counts.items() if n == 3}\n"
        "    return live\n",
        "rng = random.Random(7)\n"
        "start = {(rng.randrange(LIFE_SIZE), rng.randrange(LIFE_SIZE)) "
        "for _ in range(LIFE_CELLS)}\n"
        "final = life(start, LIFE_GENERATIONS, LIFE_SIZE)\nlen(final)",
        "life({(0, 1), (1, 2), (2, 0), (2, 1), (2, 2)}, 4, 8) == "
        "{(1, 2), (2, 3), (3, 1), (3, 2), (3, 3)}",
        "len(final) == $final_count",
    ),
    Question(
        "q3",
        2,
        "Which start below `limit` has the longest Collatz chain?",
        "def longest_collatz(limit):",
        "    best, best_len = 1, 1\n"
        "    for start in range(1, limit):\n"
        "        n, steps = start, 1\n"
        "        while n != 1:\n"
        "            n = n // 2 if n % 2 == 0 else 3 * n + 1\n"
        "            steps += 1\n"
        "        if steps > best_len:\n"
        "            best, best_len = start, steps\n"
        "    return best\n",
        "    best, best_len = 1, 1\n"
        "    for start in range(1, limit):\n"
        "        n, steps = start, 1\n"
        "        while n != 1:\n"
        "            n = n // 2 if n % 2 == 0 else 3 * n + 1\n"
        "            steps += 1\n"
        "        if steps > best_len:\n"
        "            best, best_len = start, steps\n"
        "    return best_len\n",
        "best = longest_collatz(COLLATZ_LIMIT)\nbest",
        "longest_collatz(10) == 9",
        "best == $best",
    ),
]

# answer variant → the questions it gets wrong; submission i gets VARIANTS[i % 5]
VARIANTS: list[tuple[str, frozenset[str]]] = [
    ("right", frozenset()),
    ("right", frozenset()),
    ("right", frozenset()),
    ("q2 wrong", frozenset({"q2"})),
    ("q3 wrong", frozenset({"q3"})),
]

TRIVIAL = Question("q1", 1, "Put 6 × 7 into `answer`.", "answer =", "", "", "", "answer == 42", "")


class BuildError(RuntimeError):
    """The benchmark's own assignment is inconsistent (a bug here, not in a grader)."""


@dataclass(frozen=True)
class Assignment:
    """One benchmark assignment: its questions, the hidden tests' expected values and
    the points each answer variant must get."""

    name: str
    sizes: Sizes | None  # None: the trivial assignment
    questions: list[Question]
    values: dict[str, Any]
    expected: dict[str, dict[str, float]]  # variant → question → points

    @property
    def max_points(self) -> float:
        return float(sum(q.points for q in self.questions))

    def variant(self, index: int) -> str:
        return VARIANTS[index % len(VARIANTS)][0] if self.sizes else "right"

    def test(self, q: Question, which: str) -> str:
        text = q.public if which == "public" else q.hidden
        return string.Template(text).substitute({k: repr(v) for k, v in self.values.items()})

    def answer_source(self, q: Question, variant: str) -> str:
        if self.sizes is None:
            return "answer = 6 * 7"
        wrong = dict(VARIANTS)[variant]
        return q.head + "\n" + (q.wrong if q.name in wrong else q.solution)


def simulation(sizes: Sizes) -> Assignment:
    """The realistic assignment, its expected values computed by running the solution."""
    env: dict[str, Any] = {}
    exec(sizes.setup_cell(), env)  # noqa: S102 - our own code
    for q in QUESTIONS:
        exec(q.head + "\n" + q.solution, env)  # noqa: S102
        exec(q.run, env)  # noqa: S102
    values = {"pi_hat": env["pi_hat"], "final_count": len(env["final"]), "best": env["best"]}
    a = Assignment("sim", sizes, QUESTIONS, values, {})
    for variant in dict(VARIANTS):
        a.expected[variant] = _points_of(a, variant)
    return a


def trivial() -> Assignment:
    return Assignment("trivial", None, [TRIVIAL], {}, {"right": {"q1": 1.0}})


def _points_of(a: Assignment, variant: str) -> dict[str, float]:
    """Run the variant's answers and every test here; all-or-nothing per question."""
    assert a.sizes is not None
    env: dict[str, Any] = {}
    exec(a.sizes.setup_cell(), env)  # noqa: S102
    points = {}
    for q in a.questions:
        exec(a.answer_source(q, variant), env)  # noqa: S102
        exec(q.run, env)  # noqa: S102
        passed = [bool(eval(a.test(q, w), env)) for w in ("public", "hidden")]  # noqa: S307
        if len(set(passed)) != 1:
            raise BuildError(
                f"{variant} passes some tests of {q.name} but not all ({passed}): "
                "otter and nbgrader would score it differently; change the variant"
            )
        points[q.name] = float(q.points) if passed[0] else 0.0
    if variant == "right" and not math.isclose(sum(points.values()), a.max_points):
        raise BuildError(f"the solution itself does not pass its tests: {points}")
    return points


# ---- otter ----------------------------------------------------------------------


def _otter_test(source: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    # otter takes the expected result from the test cell's output, as if run
    cell.outputs = [
        nbformat.v4.new_output("execute_result", data={"text/plain": "True"}, execution_count=1)
    ]
    return cell


def otter_master(a: Assignment, folder: Path) -> Path:
    """folder/<name>.ipynb in otter assign format (otter makes the autograder zip)."""
    raw, md, code = (
        nbformat.v4.new_raw_cell,
        nbformat.v4.new_markdown_cell,
        nbformat.v4.new_code_cell,
    )
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.cells = [
        raw(
            "# ASSIGNMENT CONFIG\nrequirements: null\nexport_cell: false\n"
            "check_all_cell: false\ninit_cell: false\nrun_tests: false\n"
        ),
        md(f"# {a.name}"),
    ]
    if a.sizes:
        nb.cells.append(code(a.sizes.setup_cell()))
    for q in a.questions:
        nb.cells += [raw(f"# BEGIN QUESTION\nname: {q.name}\npoints: {q.points}"), md(q.prompt)]
        if a.sizes:
            nb.cells += [
                raw("# BEGIN SOLUTION"),
                code(f"{q.head}\n    # BEGIN SOLUTION\n{q.solution}    # END SOLUTION"),
                raw("# END SOLUTION"),
                code(q.run),
            ]
        else:
            nb.cells += [raw("# BEGIN SOLUTION"), code("answer = 6 * 7 # SOLUTION"),
                         raw("# END SOLUTION")]  # fmt: skip
        nb.cells.append(raw("# BEGIN TESTS"))
        nb.cells.append(_otter_test(a.test(q, "public")))
        if q.hidden:
            nb.cells.append(_otter_test("# HIDDEN\n" + a.test(q, "hidden")))
        nb.cells += [raw("# END TESTS"), raw("# END QUESTION")]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{a.name}.ipynb"
    nbformat.write(nb, path)
    return path


# ---- nbgrader -------------------------------------------------------------------


def _nbg(cell: nbformat.NotebookNode, **meta: object) -> nbformat.NotebookNode:
    base = {"schema_version": 3, "locked": False, "solution": False, "grade": False}
    cell.metadata["nbgrader"] = {**base, **meta}
    return cell


def nbgrader_source(a: Assignment, folder: Path) -> Path:
    """folder/<name>.ipynb with nbgrader solution and autograder-test cells."""
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.cells = [md(f"# {a.name}")]
    if a.sizes:
        nb.cells.append(code(a.sizes.setup_cell()))
    for q in a.questions:
        nb.cells.append(md(f"**{q.name}** ({q.points} points). {q.prompt}"))
        if a.sizes:
            source = f"{q.head}\n    ### BEGIN SOLUTION\n{q.solution}    ### END SOLUTION"
        else:
            source = "### BEGIN SOLUTION\nanswer = 6 * 7\n### END SOLUTION"
        nb.cells.append(_nbg(code(source), solution=True, grade_id=q.name))
        if a.sizes:
            nb.cells.append(code(q.run))
        test = f"assert {a.test(q, 'public')}"
        if q.hidden:
            test += f"\n### BEGIN HIDDEN TESTS\nassert {a.test(q, 'hidden')}\n### END HIDDEN TESTS"
        nb.cells.append(
            _nbg(code(test), grade=True, grade_id=f"test_{q.name}", points=q.points, locked=True)
        )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{a.name}.ipynb"
    nbformat.write(nb, path)
    return path


# ---- answers --------------------------------------------------------------------


def answer(a: Assignment, fmt: str, released: Path, variant: str) -> bytes:
    """The released student notebook with the variant's answers in the answer cells."""
    nb = nbformat.read(released, as_version=4)
    found: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for q in a.questions:
            if fmt == "nbgrader":
                mine = cell.metadata.get("nbgrader", {}).get("grade_id") == q.name
            else:
                mine = cell.source.startswith(q.head)
            if mine:
                cell.source = a.answer_source(q, variant)
                found.add(q.name)
    missing = {q.name for q in a.questions} - found
    if missing:
        raise BuildError(f"no answer cell for {sorted(missing)} in {released}")
    return nbformat.writes(nb).encode()
