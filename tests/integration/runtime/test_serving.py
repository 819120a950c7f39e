"""How requests are served: metrics labelled by route template, and reads in autocommit that hand
their connection back to the pool out of it, ready for a write's transaction."""

from __future__ import annotations

from club_runtime.core.roles import Role
from tests.integration.runtime.conftest import Club


def test_metrics_label_route_templates_not_paths(two_clubs: tuple[Club, Club]) -> None:
    a, _ = two_clubs
    assert a.client.get(f"/api/v1/players/{a.player_id}", headers=a.auth(Role.OWNER)).status_code == 200
    assert a.client.get("/no/such/path").status_code == 404
    text = a.client.get("/metrics").text
    assert (
        'club_api_requests_total{method="GET",route="/api/v1/players/{player_id}",status_class="2xx"}' in text
    )
    assert 'club_api_requests_total{method="GET",route="unmatched",status_class="4xx"}' in text
    assert str(a.player_id) not in text


def test_reads_hand_back_connections_out_of_autocommit(two_clubs: tuple[Club, Club]) -> None:
    a, _ = two_clubs
    for path in ("/api/v1/players", f"/api/v1/players/{a.player_id}", "/api/v1/auth/me"):
        assert a.client.get(path, headers=a.auth(Role.COACH)).status_code == 200
    pool = a.client.app.state.services.pool  # type: ignore[attr-defined]

    async def autocommit_modes() -> list[bool]:
        conns = [await pool.getconn() for _ in range(pool.get_stats()["pool_available"])]
        try:
            return [conn.autocommit for conn in conns]
        finally:
            for conn in conns:
                await pool.putconn(conn)

    portal = a.client.portal
    assert portal is not None
    modes = portal.call(autocommit_modes)
    assert modes
    assert not any(modes)
