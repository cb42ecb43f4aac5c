"""Several hosts: which one holds a session, and what a request for a session held elsewhere
becomes.

A session lives where its workspace and transcript are. A turn for it that lands on another
host is not run there: the turn raises SessionElsewhere, and the HTTP edge forwards the
request, unchanged, to the home host (app/web/forwarding.py), proving itself with the
cluster's secret. A home that has stopped beating is gone: its sessions answer 503, unless
the operator shares workspaces and key homes on one volume (SHARED_VOLUMES), in which case
the host that got the request takes the session over and resumes it cold.
"""

import hmac
from dataclasses import dataclass

from app.errors import ServiceUnavailable
from app.shared.redis_state import Host, HostRegistry, SessionHomes

FORWARDED_BY = "X-Gateway-Forwarded-By"
CLUSTER_SECRET = "X-Cluster-Secret"


class SessionElsewhere(Exception):
    """The session lives on another host, which must run its turn."""

    def __init__(self, host: Host):
        super().__init__(f"the session lives on {host.url}")
        self.host = host


class HomeGone(ServiceUnavailable):
    code = "session_host_unavailable"


@dataclass(frozen=True)
class Cluster:
    """This host's view of its cluster."""
    registry: HostRegistry
    homes: SessionHomes
    secret: str
    shared_volumes: bool = False

    @property
    def me(self) -> Host:
        return self.registry.me

    def check_home(self, session_id: str) -> None:
        """Go on here if the session lives here (or nowhere yet); SessionElsewhere if on a
        live host; 503 if its home is gone (unless this host may take it over)."""
        home = self.homes.home_of(session_id)
        if home is None or home == self.me.id:
            return
        host = self.registry.find(home)
        if host is not None:
            raise SessionElsewhere(host)
        if self.shared_volumes:
            self.homes.take_over(session_id)
            return
        raise HomeGone(f"Session {session_id} lives on a host that is gone; with workspaces "
                       "and key homes on a shared volume (SHARED_VOLUMES) another host could "
                       "resume it.")

    def trusts(self, headers) -> bool:
        """Whether a request comes from a host of this cluster (its secret is ours)."""
        given = headers.get(CLUSTER_SECRET, "")
        return bool(given) and hmac.compare_digest(given.encode(), self.secret.encode())
