from __future__ import annotations

import pytest

from coursehub.lti.keys import ToolKey, ensure_tool_key


@pytest.fixture(scope="module")
def tool_key(tmp_path_factory: pytest.TempPathFactory) -> ToolKey:
    """coursehub's LTI key (slow to make: once per module)."""
    return ensure_tool_key(tmp_path_factory.mktemp("tool") / "secrets" / "lti_tool_key.pem")
