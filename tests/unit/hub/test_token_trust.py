"""JupyterHub trusts the entropy of coursehub's generated service and CLI tokens (one
salted hash per check instead of 16,384), and of nothing typed by hand."""

from __future__ import annotations

import secrets
from pathlib import Path

from jupyterhub import orm
from traitlets.config import Config

from coursehub.config.layout import DataLayout, Ports
from coursehub.config.loader import load_config
from coursehub.config.translate.jupyterhub import HubSecrets, Machine, looks_generated, translate
from coursehub.hub.bootstrap import _trust_only_our_tokens


def _hub(tmp_path: Path, service: str, cli: str) -> dict:
    (tmp_path / "coursehub.yaml").write_text("")
    config = load_config(tmp_path / "coursehub.yaml").config
    ports = Ports(hub=18081, proxy_api=18001, service=18090)
    layout = DataLayout(config.site.data_dir)
    return translate(config, layout, ports, HubSecrets("p", service, cli), Machine("py", 2))[
        "JupyterHub"
    ]


def test_generated_tokens_are_trusted(tmp_path: Path) -> None:
    service, cli = secrets.token_hex(32), secrets.token_hex(32)  # as config/secrets.py makes them
    assert _hub(tmp_path, service, cli)["trust_user_provided_tokens"] is True


def test_a_typed_secret_file_keeps_full_hashing(tmp_path: Path) -> None:
    typed = "correct horse battery staple and more words"  # long enough to be accepted
    assert _hub(tmp_path, typed, secrets.token_hex(32))["trust_user_provided_tokens"] is False
    assert not looks_generated("0" * 64)
    assert not looks_generated("deadbeef" * 8)
    assert not looks_generated(secrets.token_hex(32).upper())


def test_extra_config_with_tokens_of_its_own_turns_trust_off() -> None:
    ours = {secrets.token_hex(32), secrets.token_hex(32)}
    for extra in (
        lambda c: c.JupyterHub.services.append({"name": "grader", "api_token": "s3cret-typed"}),
        lambda c: c.JupyterHub.service_tokens.update({"typed-token-1234": "grader"}),
        lambda c: c.JupyterHub.api_tokens.update({"typed-token-1234": "ada"}),
    ):
        c = Config()
        c.JupyterHub.trust_user_provided_tokens = True
        c.JupyterHub.services = [{"name": "coursehub", "api_token": min(ours)}]
        c.JupyterHub.service_tokens = {}
        c.JupyterHub.api_tokens = {}
        extra(c)
        _trust_only_our_tokens(c, ours)
        assert c.JupyterHub.trust_user_provided_tokens is False

    c = Config()
    c.JupyterHub.trust_user_provided_tokens = True
    c.JupyterHub.services = [{"name": "coursehub", "api_token": min(ours)}, {"name": "x"}]
    _trust_only_our_tokens(c, ours)
    assert c.JupyterHub.trust_user_provided_tokens is True


def test_what_the_setting_changes_in_jupyterhub(tmp_path: Path) -> None:
    """JupyterHub 6 stores a trusted config token with one salted SHA-512 round, an
    untrusted one with 16,384; both are found by value and nothing else differs."""
    session = orm.new_session_factory(f"sqlite:///{tmp_path / 'hub.sqlite'}")()
    try:
        service = orm.Service(name="coursehub")
        session.add_all([service, orm.OAuthClient(identifier="jupyterhub")])
        session.commit()
        fast, slow = secrets.token_hex(32), secrets.token_hex(32)
        service.new_api_token(fast, generated=True, scopes=[])
        service.new_api_token(slow, generated=False, scopes=[])
        assert orm.APIToken.find(session, fast).hashed.startswith("sha512:1:")
        assert orm.APIToken.find(session, slow).hashed.startswith("sha512:16384:")
        assert orm.APIToken.find(session, secrets.token_hex(32)) is None
        assert orm.APIToken.find(session, fast[:-1] + ("0" if fast[-1] != "0" else "1")) is None
    finally:
        session.close()
