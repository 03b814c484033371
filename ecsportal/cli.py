"""The ``ecs-portal`` command: Django's ``manage.py`` for an installed ECS Portal.

``pip install ecs-portal`` puts ``ecs-portal`` on the PATH (``[project.scripts]`` in
pyproject.toml), so an installed portal runs its management commands without the repository:
``ecs-portal migrate``, ``ecs-portal ecs_apply site.yaml``, ``ecs-portal run_worker`` ...
``manage.py`` in a checkout calls the same function. Settings come from the environment
(``ecsportal.settings``) unless ``DJANGO_SETTINGS_MODULE`` names others.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    """Run one Django management command; ``argv`` defaults to ``sys.argv``."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecsportal.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(list(sys.argv if argv is None else argv))


if __name__ == "__main__":
    main()
