"""WSGI entry point (gunicorn ecsportal.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecsportal.settings")
application = get_wsgi_application()
