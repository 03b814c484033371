"""The NEF (TS 29.122 MonitoringEvent, T8) as the source of a UE's roaming status and location.

``wire`` is the one module that knows the API's paths and member names, ``client`` makes the
exchange (OAuth 2.0 client credentials, ``ecscore.outbound``), ``resolver`` is the roaming
resolver ``provisioning`` asks once per request, ``views`` receives the NEF's later
notification, and ``configsection`` reads the ``nef`` section of the configuration file.
"""
