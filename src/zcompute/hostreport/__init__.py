"""What zcompute concludes about a host: the parsed host model (:mod:`zcompute.host`) read
through the architecture profiles, for ``zcompute host show``.

:mod:`zcompute.host` only parses what libvirt and ``/proc/cpuinfo`` say and sits below the
profiles; the conclusions need the profiles, so they live here, above them.
"""

from __future__ import annotations

from zcompute.hostreport._model import CPU_SOURCES, HostModel, read_host
from zcompute.hostreport._report import GuestConclusion, conclude

__all__ = ["CPU_SOURCES", "GuestConclusion", "HostModel", "conclude", "read_host"]
