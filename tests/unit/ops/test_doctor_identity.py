"""doctor says when a role given by name in coursehub.yaml reaches nobody."""

from __future__ import annotations

from pathlib import Path

from coursehub.accounts.signins import AccountSignIns
from coursehub.accounts.store import AccountStore
from coursehub.config.layout import DataLayout
from coursehub.config.loader import load_config
from coursehub.db.session import Database, ensure_schema
from coursehub.ops.doctor_identity import roles_check


def _site(tmp_path: Path, yaml: str) -> tuple:
    path = tmp_path / "coursehub.yaml"
    path.write_text(f"site:\n  data_dir: {tmp_path / 'data'}\n" + yaml)
    config = load_config(path).config
    return config, DataLayout(config.site.data_dir)


def test_roles_for_accounts_of_another_method_are_reported(tmp_path: Path) -> None:
    config, layout = _site(
        tmp_path,
        "auth:\n  methods: [local, jwt]\n  jwt:\n    secret_file: s\n"
        "roles:\n  instructor: [prof, 'github:octo']\n  ta: ['jwt:jo']\n",
    )
    assert roles_check(config, layout).status == "warn"  # github is off
    layout.root.mkdir(parents=True)
    url = f"sqlite:///{layout.coursehub_db_file}"
    ensure_schema(url)
    db = Database(url)
    AccountStore(db).add("prof", signin="jwt")
    AccountSignIns(db).claim("jo", "jwt", create=True)
    check = roles_check(config, layout)
    assert check.status == "warn"
    assert "local:prof (instructor): the account prof signs in with jwt" in check.detail
    assert "github:octo (instructor): github sign-in is not turned on" in check.detail
    assert "jo" not in check.detail
    assert "coursehub users link" in check.fix


def test_no_roles_by_name_is_fine(tmp_path: Path) -> None:
    config, layout = _site(tmp_path, "")
    assert roles_check(config, layout).status == "ok"
