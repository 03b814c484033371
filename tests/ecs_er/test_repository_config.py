"""The ``repository`` section: applied and exported by ``ecs_apply``/``ecs_export``, every
mistake named before anything changes, key references only (never key material)."""

from __future__ import annotations

import pytest
import yaml

from federation.models import RepositoryConfiguration
from tests.ecsportal.configtools import apply_config, export_config, refused_by_apply, write_config

pytestmark = pytest.mark.django_db

SECTION = {
    "enabled": True,
    "maxRegistrationSeconds": 7200,
    "discoveryLifetime": 60,
    "signingKeys": [{"kid": "k1", "privateKey": "env:ER_KEY"}],
}


def test_the_section_applies_and_exports_as_written(tmp_path):
    apply_config(write_config(tmp_path, {"repository": SECTION}))
    config = RepositoryConfiguration.objects.get()
    assert (config.enabled, config.max_registration_seconds, config.discovery_lifetime) == (
        True,
        7200,
        60,
    )
    assert yaml.safe_load(export_config())["repository"] == SECTION
    # Applied again: nothing changes, nothing is logged.
    before = RepositoryConfiguration.history.count()
    apply_config(write_config(tmp_path, yaml.safe_load(export_config()), "again.yaml"))
    assert RepositoryConfiguration.history.count() == before


def test_defaults_and_removal(tmp_path):
    apply_config(write_config(tmp_path, {"repository": {"enabled": True}}))
    config = RepositoryConfiguration.objects.get()
    assert (config.max_registration_seconds, config.discovery_lifetime) == (86400, 300)
    apply_config(write_config(tmp_path, {"repository": None}, "off.yaml"))
    assert not RepositoryConfiguration.objects.exists()
    assert "repository" not in yaml.safe_load(export_config())


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ({"enabled": "yes"}, "repository.enabled: must be true or false"),
        ({"discoveryLifetime": -1}, "repository.discoveryLifetime"),
        ({"maxRegistrationSeconds": 1.5}, "repository.maxRegistrationSeconds: must be whole"),
        ({"colour": "red"}, "repository.colour: unknown key"),
        (
            {"signingKeys": [{"kid": "k", "privateKey": "-----BEGIN PRIVATE KEY-----"}]},
            "repository.signingKeys[0].privateKey: must be env:NAME or file:PATH",
        ),
        (
            {
                "signingKeys": [
                    {"kid": "k", "privateKey": "env:A"},
                    {"kid": "k", "privateKey": "env:B"},
                ]
            },
            "repository.signingKeys[1].kid: 'k' is used twice",
        ),
        ({"signingKeys": "env:A"}, "repository.signingKeys: must be a list"),
    ],
)
def test_mistakes_are_named_and_nothing_changes(tmp_path, section, expected):
    message = refused_by_apply(tmp_path, {"repository": section})
    assert expected in message
    assert not RepositoryConfiguration.objects.exists()
