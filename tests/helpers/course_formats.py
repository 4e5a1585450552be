"""Course repositories in the layouts of real public ones, for tests.

Each copies the structure (file names, settings files, links, notebook headers) of a
named public repository at a stated commit; the texts are short stand-ins.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

MYST_HEADER = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3 (ipykernel)
  language: python
  name: python3
---
"""


def myst(body: str) -> str:
    return MYST_HEADER + "\n" + body + "\n"


def notebook(code: str) -> str:
    cell = {"cell_type": "code", "execution_count": None, "id": "c1", "metadata": {},
            "outputs": [], "source": code}  # fmt: skip
    return json.dumps(
        {
            "cells": [cell],
            "metadata": {
                "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
            },  # fmt: skip
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )


# flotpython/course at 30d6211a1d52fe6663cd231a4b60095f1c2b3e5a (made for nbhosting):
# .nbhosting/nbhosting.yaml with static-mappings data and media and two tracks of
# globs, MyST notebooks in w1/ w2/, links w1/data -> ../data, w3/data -> ../data/,
# projects/exo-ships/compare.py -> ../../data/compare.py, and a myst.yml whose toc
# lives in myst-toc.yml (extends:).
NBHOSTING_YAML = """\
static-mappings:
  - source: data
    destination: data
  - source: media
    destination: media

tracks:
- name: "mooc"
  id: mooc
  description: "compléments du MOOC Python"
  sections:
  - name: '1. prise en mains'
    notebooks:
    - w1/w*-s*-[cx]*.md
  - name: '2. types de base / syntaxe'
    notebooks:
    - w2/w*-s*-[cx]*.md
- name: "exos"
  id: exos
  description: "exercices autocorrigés du MOOC Python"
  sections:
  - name: '1. prise en mains'
    notebooks:
    - w1/w*-s*-x*.md
  - name: '2. types de base / syntaxe'
    notebooks:
    - w2/w*-s*-x*.md

builds:
  - id: handouts
    name: format HTML
    description: contenu statique et cherchable
    directory: notebooks
    script: |
      pip install jupyter-book
      jupyter-book build .
"""

MYST_YML = """\
version: 1
project:
  title: MOOC Python
  github: https://github.com/flotpython/course
site:
  template: book-theme
extends:
  - myst-toc.yml
"""

MYST_TOC_YML = """\
version: 1

project:
  toc:

    - file: README.md
    - title: semaine 1
      children:
        - file: w1/w1-s1-c1-versions-python.md
        - file: w1/w1-s6-x1-flottants.md
    - title: semaine 2
      children:
          - file: w2/w2-s2-c1-outils-chaines.md
"""


def nbhosting_course(repo: Path) -> Path:
    files = {
        ".nbhosting/nbhosting.yaml": NBHOSTING_YAML,
        "myst.yml": MYST_YML,
        "myst-toc.yml": MYST_TOC_YML,
        "README.md": "# MOOC Python\n",
        "requirements.txt": "jupytext\n",
        "data/cities.txt": "Paris\nLyon\n",
        "data/compare.py": "def compare(a, b):\n    return a == b\n",
        "media/logo.svg": "<svg/>\n",
        "modules/corrections/__init__.py": "",
        "w1/w1-s1-c1-versions-python.md": myst(
            "# Versions de Python\n\n```{code-cell}\nimport sys\nprint(sys.version)\n```"
        ),
        "w1/w1-s6-x1-flottants.md": myst(
            "# Flottants\n\n```{code-cell}\nprint(open('data/cities.txt').read())\n```"
        ),
        "w1/fibonacci_prompt.py": "print('not a notebook')\n",
        "w2/w2-s2-c1-outils-chaines.md": myst("# Chaînes"),
        "w2/w2-s6-x1-label.md": myst("# Label"),
        "projects/exo-ships/README.md": "ships\n",
    }  # fmt: skip
    write_files(repo, files)
    links = {
        "w1/data": "../data",
        "w1/media": "../media",
        "w2/data": "../data",
        "w3/data": "../data/",
        "projects/exo-ships/compare.py": "../../data/compare.py",
    }
    for name, target in links.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, repo / name)
    return repo


# executablebooks/quantecon-mini-example at 46e9424dd854f4d8ffc7848acd314f89410b971c
# (a Jupyter Book 0.x): the book in mini_book/ with a jb-article _toc.yml, MyST
# notebooks without extension in the toc, and a conda environment.yml at the top.
QUANTECON_TOC = """\
format: jb-article
root: docs/index
sections:
- file: docs/about_py
- file: docs/getting_started
- file: docs/python_by_example
- file: docs/learn_more
"""

QUANTECON_ENVIRONMENT = """\
name: qe-mini-example
channels:
  - default
dependencies:
  - python=3.8
  - sphinx
  - pip
  - pandas
  - matplotlib
  - pip:
    - quantecon
    - jupyter-book
"""


def jupyter_book_course(repo: Path) -> Path:
    write_files(
        repo,
        {
            "README.md": "# mini book\n",
            "environment.yml": QUANTECON_ENVIRONMENT,
            "mini_book/_config.yml": "title: A Mini Example\n",
            "mini_book/_toc.yml": QUANTECON_TOC,
            "mini_book/docs/index.md": myst("# Index"),
            "mini_book/docs/about_py.md": myst("# About Python"),
            "mini_book/docs/getting_started.md": myst("# Getting started"),
            "mini_book/docs/python_by_example.md": myst("# Python by example"),
            "mini_book/docs/learn_more.md": "# Learn more\n\nplain page, no kernel\n",
        },
    )
    return repo


# binder-examples/requirements at 505a59f0430cb6414a4acbdd88803ce33c7fd953: a
# pip-compiled requirements.txt beside requirements.in, runtime.txt and index.ipynb.
def binder_course(repo: Path, requirements: str = "tabulate==0.9.0\n") -> Path:
    write_files(
        repo,
        {
            "README.md": "# Binder\n",
            "index.ipynb": notebook("import tabulate\nprint(tabulate.__version__)"),
            "requirements.in": "tabulate\n",
            "requirements.txt": "# This file is autogenerated by pip-compile\n" + requirements,
            "runtime.txt": "python-3.10\n",
        },
    )
    return repo


def write_files(repo: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
