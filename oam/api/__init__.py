"""The OAM REST API at /api/oam/v1/: one base viewset, serializers that read and write the
configuration file's keys, one FilterSet per model, ProblemDetails errors."""
