"""Dashboard page render time with 10,000 households, as the server spends it (in process).

Goal (issue 7): the households page in under 300 ms on the server.

Method: 10,000 households, each with a switched bulb, are registered in a real SqliteStore (a
temporary folder) and given two days of life through a real Engine via LocalDesk (what `anbu
serve` stores and decides, in this thread): a routine of switch uses from about 07:00 to 23:00
local time and a heartbeat every 3 hours. About 1% end in an SOS alarm (half of those then
acknowledged or dispatched by a caseworker), 1% fall silent for 14 to 30 hours (the engine
knocks and alarms or watches as it sees fit), 2% are away, 0.5% lose their bulb half a day
ago (a device case); every household is then ticked at the present. The real pages app
(host.dashboard.app.dashboard) is driven by Starlette's TestClient, logged in as an admin
through the login form; each page is fetched N times and the median and p90 are reported in
ms: GET / (default sort, first page), GET /?sort=-last_activity&status=fine, GET
/?partial=rows (the live refresh), GET /alarms, and one household's page. The baseline, in the
same run and through the same TestClient: a bare Starlette route returning a precomputed HTML
body the size of the households page, so the ratio page / baseline is what the dashboard adds.

LocalDesk.rows() rebuilds every row from the store on each call, while `anbu serve`'s desk
hands out the rows its service thread last published; so desk.rows() is timed on its own
(`desk_rows_ms`), and the households pages again with the rows a host.serve.desk.Board
published (`pages_with_published_rows`), which is what the live host's web thread does.
A page size of all (`page_size` = the number of households, a config setting) is timed too.
Prints one JSON object as its last line.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route
from starlette.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from host import decisions as d  # noqa: E402
from host import events as ev  # noqa: E402
from host.config import EngineConfig  # noqa: E402
from host.dashboard.accounts import Accounts  # noqa: E402
from host.dashboard.app import dashboard  # noqa: E402
from host.dashboard.board import HouseholdRow  # noqa: E402
from host.dashboard.local_desk import LocalDesk  # noqa: E402
from host.dashboard.settings import DashboardConfig  # noqa: E402
from host.engine import Engine  # noqa: E402
from host.events import Event  # noqa: E402
from host.serve.desk import Board  # noqa: E402
from host.store import DEFAULT_TZ  # noqa: E402
from host.store.sqlite import SqliteStore  # noqa: E402

HEARTBEAT_S = 3 * 3600.0
ADMIN, PASSWORD = "bench-admin", "bench-password-1"  # a throw-away database's account
PAGES = {
    "households": "/",
    "households_sorted_filtered": "/?sort=-last_activity&status=fine",
    "households_partial": "/?partial=rows",
    "alarms": "/alarms",
}


def household(h: int) -> tuple[str, str]:
    return f"hh-{h:05d}", f"bulb-{h:05d}"


def life(h: int, now: float, days: int, rng: random.Random) -> tuple[list[Event], str]:
    """One household's inputs up to now, in time order, and which kind of household it is."""
    hid, dev = household(h)
    tz = ZoneInfo(DEFAULT_TZ)
    today = datetime.fromtimestamp(now, tz).replace(hour=0, minute=0, second=0, microsecond=0)
    start = now - days * 86400
    kind, stop = "routine", now
    if h % 100 == 0:
        kind, stop = "sos", now - rng.uniform(600, 6 * 3600)
    elif h % 100 == 1:
        kind, stop = "silent", now - rng.uniform(14 * 3600, 30 * 3600)
    elif h % 50 == 2:
        kind, stop = "away", now - rng.uniform(3600, 36 * 3600)
    elif h % 200 == 3:
        kind, stop = "device_fault", now - 12 * 3600
    out = [Event(hid, start, ev.ONLINE, dev, (ev.SWITCHED, HEARTBEAT_S, 1))]
    for back in range(days, -1, -1):
        midnight = (today - timedelta(days=back)).timestamp()
        t = midnight + rng.gauss(7 * 3600, 1200)
        end = midnight + 23 * 3600
        while t < end:
            off = t + rng.uniform(60, 600)
            if start < t and off < stop:
                out.append(Event(hid, t, ev.ON, dev))
                out.append(Event(hid, off, ev.OFF, dev))
            t += rng.expovariate(1 / 5400) + 600
    beats_until = stop if kind == "device_fault" else now
    t = start + HEARTBEAT_S
    while t < beats_until:
        out.append(Event(hid, t, ev.HEARTBEAT, dev))
        t += HEARTBEAT_S
    if kind == "sos":  # five changes of the light within ten seconds
        out += [Event(hid, stop + 1.5 * i, ev.ON if i % 2 == 0 else ev.OFF, dev)
                for i in range(5)]
    elif kind == "away":
        back = None if h % 3 == 0 else now + rng.uniform(86400, 10 * 86400)
        out.append(Event(hid, stop, ev.AWAY, None, back))
    out.sort(key=lambda e: e.time)
    return out, kind


def build(folder: Path, households: int, days: int) -> tuple[SqliteStore, LocalDesk, dict]:
    """The store and the desk with every household's history fed through the engine."""
    started = time.perf_counter()
    store = SqliteStore(folder / "anbu.db")
    with store.batch():
        for h in range(households):
            hid, dev = household(h)
            store.add_household(hid, f"주민 {h:05d}", created_at=0.0)
            store.add_device(dev, hid, ev.SWITCHED, created_at=0.0)
    now = time.time()
    # No quiet hours, so the silent households are judged the same whatever hour this runs at.
    engine = Engine(replace(EngineConfig(), quiet_start_h=0, quiet_end_h=0))
    desk = LocalDesk(engine, store)
    rng = random.Random(7)
    fed, kinds = 0, Counter()
    with store.batch():
        for h in range(households):
            events, kind = life(h, now, days, rng)
            kinds[kind] += 1
            for e in events:
                desk.feed(e, e.time)
            fed += len(events)
            hid, dev = household(h)
            desk.tick(hid, now)
            st = engine.state(hid)
            case = st.welfare if st is not None else None
            if kind == "sos" and case is not None and h % 200 == 0:  # someone took half
                desk.feed(Event(hid, now, ev.ACK, None, (case.id, None, ADMIN, "on it")), now)
                if h % 400 == 0:
                    desk.feed(Event(hid, now, ev.DISPATCH, None,
                                    (case.id, None, ADMIN, "responder sent")), now)
    for h in range(households):  # what the host hears last: a heartbeat's telemetry
        desk.heard(household(h)[1], now, rssi=-60 - h % 30, heap=90000, up=86400)
    statuses = Counter(r.status for r in desk.rows())
    return store, desk, {
        "households": households, "days": days, "events_fed": fed,
        "kinds": dict(sorted(kinds.items())),
        "statuses": {s: statuses.get(s, 0) for s in d.STATUSES},
        "open_cases": len(store.cases(open_only=True)),
        "setup_s": round(time.perf_counter() - started, 1),
    }


class PublishedDesk(LocalDesk):
    """The same desk, but its rows are what `anbu serve` hands the web thread: the board its
    service thread publishes (host.serve.desk.Board), built once, not per request."""

    def __init__(self, desk: LocalDesk) -> None:
        super().__init__(desk.engine, desk.store, desk.clock)
        self.telemetry = desk.telemetry
        self.board = Board()
        self.board.load(desk.store)
        self.board.refresh(desk.engine, desk.store)

    def rows(self) -> Sequence[HouseholdRow]:
        return self.board.published


def log_in(client: TestClient) -> None:
    """Through the login form, as a person would: its double-submit token, then the POST."""
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert page.status_code == 200 and token, f"login page: {page.status_code}"
    answer = client.post("/login", data={"csrf": token.group(1), "next": "/", "name": ADMIN,
                                         "password": PASSWORD}, follow_redirects=False)
    assert answer.status_code == 303 and "anbu_session" in answer.cookies, answer.text[:500]


def timed(fetch: Callable[[], object], repeats: int) -> dict:
    fetch()  # warm: templates compiled, caches filled
    took = []
    for _ in range(repeats):
        start = time.perf_counter()
        fetch()
        took.append((time.perf_counter() - start) * 1000)
    took.sort()
    return {"median_ms": round(statistics.median(took), 1),
            "p90_ms": round(took[min(len(took) - 1, int(len(took) * 0.9))], 1)}


def get(client: TestClient, path: str) -> Callable[[], bytes]:
    def fetch() -> bytes:
        answer = client.get(path, follow_redirects=False)
        if answer.status_code != 200:
            raise AssertionError(f"GET {path}: {answer.status_code} {answer.text[:300]}")
        return answer.content

    return fetch


def pages(store: SqliteStore, desk: LocalDesk, settings: DashboardConfig, repeats: int,
          paths: dict[str, str]) -> tuple[dict, dict]:
    accounts = Accounts(store, settings)
    if store.user(ADMIN) is None:
        accounts.add_user(ADMIN, PASSWORD, "admin", "Bench Admin")
    figures, sizes = {}, {}
    with TestClient(dashboard(store, desk, settings, accounts=accounts)) as client:
        log_in(client)
        for name, path in paths.items():
            sizes[name] = len(get(client, path)())
            figures[name] = timed(get(client, path), repeats)
    return figures, sizes


def baseline(size: int, repeats: int) -> dict:
    """A bare Starlette route answering a same-size precomputed body: the floor."""
    body = ("<tr><td>" + "x" * 90 + "</td></tr>\n") * (size // 100 + 1)
    body = body[:size]

    async def page(request) -> HTMLResponse:
        return HTMLResponse(body)

    with TestClient(Starlette(routes=[Route("/", page)])) as client:
        return timed(get(client, "/"), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run for CI and laptops")
    args = parser.parse_args()
    households, days, repeats = (2000, 2, 10) if args.quick else (10_000, 2, 30)
    with tempfile.TemporaryDirectory(prefix="anbu-bench-dashboard-") as tmp:
        store, desk, figures = build(Path(tmp), households, days)
        try:
            settings = DashboardConfig()
            rows_took = timed(desk.rows, repeats)
            paths = dict(PAGES)
            alarmed = [c.household for c in store.cases(open_only=True) if c.kind == d.WELFARE]
            if alarmed:
                paths["household_page"] = f"/households/{alarmed[0]}"
            timings, sizes = pages(store, desk, settings, repeats, paths)
            published, _ = pages(store, PublishedDesk(desk), settings, repeats,
                                 {k: v for k, v in paths.items() if k.startswith("households")})
            base = baseline(sizes["households"], repeats)
            everything, all_sizes = pages(store, desk, replace(settings, page_size=households),
                                          max(3, repeats // 5), {"households": "/"})
        finally:
            store.close()
    figures.update({
        "repeats": repeats,
        "page_size": settings.page_size,
        "pages": timings,
        "bytes": sizes,
        "baseline_same_size": base,
        "households_ratio_to_baseline": round(
            timings["households"]["median_ms"] / base["median_ms"], 1),
        "households_published_ratio_to_baseline": round(
            published["households"]["median_ms"] / base["median_ms"], 1),
        "desk_rows_ms": rows_took,
        "pages_with_published_rows": published,
        "households_all_rows": everything["households"],
        "households_all_rows_bytes": all_sizes["households"],
        "goal_households_ms": 300,
        "goal_met": all(t["households"]["median_ms"] < 300 for t in (timings, published)),
    })
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
