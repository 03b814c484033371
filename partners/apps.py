"""The partners app: partner ECSs, authorization policies, EDGE-10, the provisioning cache."""

from django.apps import AppConfig


class PartnersConfig(AppConfig):
    name = "partners"
    verbose_name = "Partners"
