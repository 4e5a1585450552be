"""A platform's deployment list is an allow-list: empty accepts nobody."""

from __future__ import annotations

from coursehub.lti.platforms import Platform


def _platform(*deployments: str) -> Platform:
    return Platform(
        1, "moodle", "https://lms", "c", "https://lms/a", "https://lms/t", "https://lms/k",
        deployment_ids=deployments,
    )  # fmt: skip


def test_only_listed_deployments_are_accepted() -> None:
    platform = _platform("2", "7")
    assert platform.accepts_deployment("2") and platform.accepts_deployment("7")
    assert not platform.accepts_deployment("3") and not platform.accepts_deployment("")
    assert "'3' of moodle is not registered" in platform.deployment_refusal("3")


def test_an_empty_list_accepts_no_deployment() -> None:
    platform = _platform()
    assert not platform.accepts_deployment("1")
    refusal = platform.deployment_refusal("1")
    assert "no deployment of moodle is registered" in refusal
    assert "deployment_ids" in refusal and "--deployment-id" in refusal
