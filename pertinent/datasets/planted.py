"""Generated interaction data with planted structure, for tests, benchmarks and demos.

Items form ``n_clusters`` clusters (their ``GENRE``); each user has a segment (Users ``SEGMENT``) and
two favourite clusters. Events come in sessions: a session starts on an item of a favourite cluster,
then each next event is the item's *successor* in its cluster with probability ``sequential`` (planted
sequential structure: what follows what), otherwise another item of a favourite cluster. Optionally:

* ``context_signal``: each session has a ``DEVICE`` (mobile or tv); with the signal on, events on a tv
  pick from the first half of a cluster and on mobile from the second half (90 % of the time);
* ``user_signal``: a user's favourite clusters come from those of its segment (80 % of the time).

Without a signal the column is still there, drawn independently of everything else (tests check that
such columns change nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

__all__ = ["PlantedData", "planted_data"]


@dataclass(frozen=True)
class PlantedData:
    interactions: pa.Table  # USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE, DEVICE
    items: pa.Table  # ITEM_ID, GENRE
    users: pa.Table  # USER_ID, SEGMENT
    cluster_of: dict[str, int]  # ITEM_ID -> cluster


def planted_data(
    n_users: int = 300,
    n_clusters: int = 8,
    items_per_cluster: int = 20,
    mean_events: int = 40,
    *,
    sequential: float = 0.6,
    context_signal: bool = False,
    user_signal: bool = False,
    n_segments: int = 4,
    session_length: int = 6,
    seed: int = 0,
) -> PlantedData:
    rng = np.random.default_rng(seed)
    m = items_per_cluster
    n_items = n_clusters * m
    item_ids = [f"i{i}" for i in range(n_items)]
    users, items, stamps, devices = [], [], [], []
    segments = rng.integers(0, n_segments, size=n_users)
    t0 = 1_600_000_000
    half = m // 2
    for user in range(n_users):
        if user_signal:
            own = [c for c in range(n_clusters) if c % n_segments == segments[user]]
            favourites = [
                int(rng.choice(own)) if rng.random() < 0.8 and own else int(rng.integers(n_clusters))
                for _ in range(2)
            ]
        else:
            favourites = [int(x) for x in rng.choice(n_clusters, size=2, replace=False)]
        length = int(np.clip(rng.poisson(mean_events), 5, 4 * mean_events))
        t = t0 + int(rng.integers(0, 30 * 86400))
        produced = 0
        while produced < length:
            device = "tv" if rng.random() < 0.5 else "mobile"
            cluster = favourites[int(rng.integers(2))]
            position = int(rng.zipf(1.5) - 1) % m
            for _ in range(min(session_length, length - produced)):
                if context_signal and rng.random() < 0.9:
                    lo = 0 if device == "tv" else half
                    position = lo + position % half
                users.append(f"u{user}")
                items.append(item_ids[cluster * m + position])
                stamps.append(t)
                devices.append(device)
                t += int(rng.integers(30, 600))
                produced += 1
                if rng.random() < sequential:
                    position = (position + 1) % m
                else:
                    cluster = favourites[int(rng.integers(2))]
                    position = int(rng.zipf(1.5) - 1) % m
            t += int(rng.integers(3600, 5 * 86400))
    interactions = pa.table(
        {
            "USER_ID": users,
            "ITEM_ID": items,
            "TIMESTAMP": pa.array(stamps, pa.int64()),
            "EVENT_TYPE": ["click"] * len(users),
            "DEVICE": devices,
        }
    )
    items_table = pa.table({"ITEM_ID": item_ids, "GENRE": [f"genre{i // m}" for i in range(n_items)]})
    users_table = pa.table(
        {"USER_ID": [f"u{u}" for u in range(n_users)], "SEGMENT": [f"s{s}" for s in segments.tolist()]}
    )
    return PlantedData(
        interactions, items_table, users_table, {iid: i // m for i, iid in enumerate(item_ids)}
    )
