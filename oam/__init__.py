"""The OAM REST API (/api/oam/v1/): what the admin manages and audits, for automation."""
