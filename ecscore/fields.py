"""Model fields more than one app stores."""

from __future__ import annotations

from django.core.validators import URLValidator
from django.db import models


class HttpURLField(models.URLField):
    """A URL we call: http or https only (a plain URLField also takes ftp and ftps)."""

    default_validators = [
        URLValidator(
            schemes=["http", "https"], message="Enter an http or https URL.", code="http_url"
        )
    ]
