"""An LTI 1.3 platform (an LMS as far as the tool can tell) on 127.0.0.1, for tests:
launches through the real OIDC browser flow, AGS 2.0, NRPS 2.0 and deep linking."""

from tests.helpers.lti_platform.simulator import (
    DEEP_LINKING,
    RESOURCE_LINK,
    PendingLaunch,
    PlatformSimulator,
)
from tests.helpers.lti_platform.tokens import (
    AGS_CLAIM,
    DL,
    DL_SETTINGS,
    INSTRUCTOR,
    LEARNER,
    LINEITEM_TYPE,
    LINEITEMS_TYPE,
    LTI,
    MEMBERSHIPS_TYPE,
    NRPS_CLAIM,
    RESULTS_TYPE,
    SCOPE_LINEITEM,
    SCOPE_LINEITEM_READ,
    SCOPE_NRPS,
    SCOPE_RESULT_READ,
    SCOPE_SCORE,
    SCORE_TYPE,
    TA,
)

__all__ = [
    "AGS_CLAIM",
    "DEEP_LINKING",
    "DL",
    "DL_SETTINGS",
    "INSTRUCTOR",
    "LEARNER",
    "LINEITEM_TYPE",
    "LINEITEMS_TYPE",
    "LTI",
    "MEMBERSHIPS_TYPE",
    "NRPS_CLAIM",
    "PendingLaunch",
    "PlatformSimulator",
    "RESOURCE_LINK",
    "RESULTS_TYPE",
    "SCOPE_LINEITEM",
    "SCOPE_LINEITEM_READ",
    "SCOPE_NRPS",
    "SCOPE_RESULT_READ",
    "SCOPE_SCORE",
    "SCORE_TYPE",
    "TA",
]
