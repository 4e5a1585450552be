"""What authoring tools say when an instructor's notebook is wrong, kept to the words
that help fix it: nbgrader's and otter's messages without their log prefixes,
tracebacks and the server's folders."""

from __future__ import annotations

from coursehub.grading.author_worker import _last_error
from coursehub.grading.nbgrader_format import _what_nbgrader_said

LOG = "[GenerateAssignmentApp | ERROR] "
NBGRADER = f"""\
{LOG}No end solution statement found. Cell contents are:
def square(x):
    ### BEGIN SOLUTION
{LOG}There was an error processing assignment: /srv/data/grading/hw/nbgrader/source/./ps1
{LOG}Traceback (most recent call last):
      File "/opt/venv/lib/python3.11/site-packages/nbgrader/converters/base.py", line 1
        raise RuntimeError("no end solution statement found")
    RuntimeError: no end solution statement found
{LOG}Please see the the above traceback for details.
"""

OTTER = """\
Traceback (most recent call last):
  File "/srv/data/grading-work/author-hw-1/source/x.py", line 3, in <module>
    raise AssignNotebookFormatException(
otter.assign.utils.AssignNotebookFormatException: Found a begin tests cell inside a solution \
block (question q1, cell number 7)
"""


def test_nbgrader_says_what_is_wrong_with_the_cell_and_nothing_of_the_server() -> None:
    said = _what_nbgrader_said(NBGRADER)
    assert said.startswith("No end solution statement found. Cell contents are:")
    assert "### BEGIN SOLUTION" in said
    assert "/srv" not in said and "Traceback" not in said and "Please see" not in said
    assert _what_nbgrader_said("ValueError: bad metadata\n") == "bad metadata"


def test_otter_says_its_last_error() -> None:
    said = _last_error(OTTER)
    assert said.startswith("Found a begin tests cell inside a solution block (question q1")
    assert said.endswith("(AssignNotebookFormatException)")
    assert "/srv" not in said and "Traceback" not in said
