#!/usr/bin/env python
"""Django's command-line utility for ECS Portal (the ``ecs-portal`` command of a checkout)."""

from ecsportal.cli import main

if __name__ == "__main__":
    main()
