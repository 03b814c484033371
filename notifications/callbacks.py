"""Callback URLs: refuse those that lead into our own network (SSRF), and call the others.

A subscriber (an EEC, a partner ECS) names the URL we POST notifications to.  Its form is
always checked (``ecscore.addresses.parse``: one that URL parsers read differently is
refused).  Unless the environment sets ``ECS_ALLOW_PRIVATE_CALLBACKS=1`` (tests, lab
set-ups), where it leads is checked too, with the check every outbound call uses
(``ecscore.addresses.check``): a host that is or resolves to a loopback, private, CGNAT,
link-local, multicast, unspecified or reserved address is refused -- at subscription time
(``problem_with``, a 400 naming the member) and again at delivery (``post``), where the
connection goes to the very addresses checked, so DNS changing in between cannot move it.
"""

from __future__ import annotations

import os
from typing import Any

from ecscore import addresses, outbound


def private_callbacks_allowed() -> bool:
    """Whether callbacks may go to loopback and private addresses (tests, labs)."""
    return os.environ.get("ECS_ALLOW_PRIVATE_CALLBACKS") == "1"


def problem_with(url: str) -> str:
    """Why the URL may not be called back, or '' when it may."""
    return addresses.problem_with(url, public_only=not private_callbacks_allowed())


def post(url: str, deadline: float, **kwargs: Any) -> outbound.Reply:
    """``outbound.post`` to a callback URL, under the callback policy; never raises.

    A refused destination is a reply with ``failure`` ``outbound.REFUSED`` and the reason
    ("destination refused: ..."); nothing is sent.
    """
    if private_callbacks_allowed():
        problem = addresses.problem_with(url, public_only=False)
        if problem:
            return outbound.refused(problem)
        return outbound.post(url, deadline, **kwargs)
    return outbound.post(url, deadline, public_only=True, **kwargs)
