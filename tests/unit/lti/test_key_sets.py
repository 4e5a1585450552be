"""Platform keys: cached, refetched when the platform rotates them, but not fetched
again for every made-up key id (tokens with random kids must not hammer the LMS)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from coursehub.lti.key_sets import KeySetError, KeySets
from coursehub.lti.platforms import Platform
from tests.helpers.lti_platform import PlatformSimulator


@pytest.fixture
def sim() -> Iterator[PlatformSimulator]:
    with PlatformSimulator() as platform:
        yield platform


def platform_of(sim: PlatformSimulator) -> Platform:
    return Platform(id=1, **sim.platform_fields())


def test_keys_are_cached_and_rotation_is_picked_up(sim: PlatformSimulator) -> None:
    keys, platform = KeySets(), platform_of(sim)
    first = keys.signing_key(platform, sim.kid)
    assert keys.signing_key(platform, sim.kid) is first
    fetched = sim.jwks_requests
    assert fetched == 1
    old_kid = sim.kid
    new_kid = sim.rotate_key()
    # made-up or new kids right after a fetch: refused without asking the platform again
    for kid in ("made-up-1", "made-up-2", new_kid):
        with pytest.raises(KeySetError) as info:
            keys.signing_key(platform, kid)
        assert info.value.code == "unknown_kid"
    assert sim.jwks_requests == fetched
    # a little later the new key is fetched and accepted, the old one still works
    keys._cache[platform.key_set_url].fetched_at -= 11
    assert keys.signing_key(platform, new_kid) is not None
    assert keys.signing_key(platform, old_kid) is not None
    assert sim.jwks_requests == fetched + 1


def test_an_unreachable_key_set_is_reported(sim: PlatformSimulator) -> None:
    platform = platform_of(sim)
    broken = Platform(**{**platform.__dict__, "key_set_url": "http://127.0.0.1:9/jwks"})
    with pytest.raises(KeySetError) as info:
        KeySets().signing_key(broken, "any")
    assert info.value.code == "keys_unreachable"
