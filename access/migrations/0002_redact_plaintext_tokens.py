"""Tokens are stored as their SHA-256 only (OAUTH2_PROVIDER COMPLIANT_BCP_RFC9700_TOKEN_STORAGE):
blank the plaintext of the tokens issued before. Their checksums (filled by the toolkit's own
migrations) still find them, so they stay valid until they expire."""

from django.conf import settings
from django.db import migrations


def redact(apps, schema_editor):
    for label in (settings.OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL, settings.OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL):
        model = apps.get_model(label)
        model._default_manager.using(schema_editor.connection.alias).exclude(token="").update(token="")


class Migration(migrations.Migration):

    dependencies = [
        ("access", "0001_initial"),
        ("oauth2_provider", "0022_refreshtoken_token_family_index"),
    ]

    operations = [migrations.RunPython(redact, migrations.RunPython.noop)]
