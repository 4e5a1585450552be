"""Attacks run as real student accounts against a real hub: the integration fixtures."""

from tests.integration.conftest import (  # noqa: F401 - fixtures
    cleanup,
    make_course_repo,
    pytest_collection_modifyitems,
    site_folder,
    start_hub,
)
