"""The federation app: ECSs that find each other through an ECS-ER (TS 23.558 clause 8.17.2).

Both roles live here: the ECS-ER (ECS registration, ECS discovery, the federation's
authorization server) and the member ECS that registers at one and discovers partners there.
"""

from django.apps import AppConfig


class FederationConfig(AppConfig):
    name = "federation"
    verbose_name = "Federation"
