"""The serving fast path: warm requests answered on the event loop (anything slow steps aside to a thread),
the ANN index made by training rather than by a request, and event writes of several processes sharing
one SQLite database without losing any."""

from __future__ import annotations

import json
import multiprocessing
import threading
from pathlib import Path

import pytest

from pertinent.config import load_settings
from pertinent.serving.inline import NeedsThread, about_to_block, inline
from pertinent.store import MetadataStore
from tests.conftest import make_group, start_server
from tests.test_serving import _campaign

GROUP = "arn:aws:personalize:us-east-1:000000000000:dataset-group/g"


def test_about_to_block_steps_aside_only_on_the_event_loop() -> None:
    about_to_block()  # a worker thread: nothing happens
    with inline(), pytest.raises(NeedsThread):
        about_to_block()
    about_to_block()  # the mark does not outlive the block


def test_training_makes_the_ann_index_before_any_request(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path / "data", worker_poll_seconds=0.05, ease_max_items=10, ann_min_items=50
    )
    live, stop = start_server(settings)
    try:
        client = live.client()
        group = make_group(client, tmp_path)
        campaign, _ = _campaign(client, group, "aws-user-personalization", "up")
        indexes = list((tmp_path / "data" / "artifacts").glob("**/serving/item_factors.usearch"))
        assert len(indexes) == 1, "training did not leave the index beside the artifact"
        built = indexes[0].stat().st_mtime_ns
        runtime = live.client("personalize-runtime")
        first = runtime.get_recommendations(campaignArn=campaign, userId="u3", numResults=10)["itemList"]
        again = runtime.get_recommendations(campaignArn=campaign, userId="u3", numResults=10)["itemList"]
        assert len(first) == 10 and first == again  # the second answer came from the event loop
        assert indexes[0].stat().st_mtime_ns == built  # served from the file training wrote
        loaded = live.app.state.recommender.campaigns.get(campaign)
        assert loaded.model.recipe.factor_index is not None
        # the training calibrated the search breadth beside the index, and serving searches with it
        stored = json.loads((indexes[0].parent / "item_factors.breadth.json").read_text())
        assert stored["target"] == 0.99 and stored["k"] == 25
        assert loaded.model.recipe.factor_index.breadth == stored["breadth"]
    finally:
        stop()


def _append_from_a_process(db_url: str, process: int, threads: int, per_thread: int) -> None:
    store = MetadataStore(db_url)

    def put(thread: int) -> None:
        for n in range(per_thread):
            user = f"p{process}-t{thread}"
            row = {
                "dataset_group_arn": GROUP,
                "kind": "interaction",
                "user_id": user,
                "session_id": f"s-{user}",
                "item_id": f"i{n}",
                "event_type": "click",
                "timestamp": 1_700_000_000.0 + n,
            }
            store.append_events([row], [(GROUP, f"s-{user}", user)])

    workers = [threading.Thread(target=put, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    store.close()


def test_concurrent_event_writes_from_several_processes_all_land(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'pertinent.db'}"
    MetadataStore(db_url).close()  # the schema, before the writers start
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_append_from_a_process, args=(db_url, p, 4, 25)) for p in range(3)
    ]
    for p in processes:
        p.start()
    for p in processes:
        p.join(300)
        assert p.exitcode == 0
    store = MetadataStore(db_url)
    try:
        for p in range(3):
            for t in range(4):
                logged = store.user_events(GROUP, f"p{p}-t{t}")
                assert [e["item_id"] for e in logged] == [f"i{n}" for n in range(25)]  # all, in order
        assert store.probe()[1] == 3 * 4 * 25
    finally:
        store.close()


def test_an_unfiltered_request_shares_one_read_only_mask_and_excludes_nothing() -> None:
    import numpy as np

    from pertinent.serving.group_data import Catalog

    ids = np.array([f"i{n}" for n in range(6)])
    catalog = Catalog(
        item_ids=ids,
        index={str(i): n for n, i in enumerate(ids)},
        rows=[{} for _ in ids],
        table=None,  # type: ignore[arg-type]
        creation_timestamps=np.full(6, np.nan),
        n_model_items=4,
        metadata_fields=(),
        textual_fields=(),
    )
    everything = catalog.everything_allowed()
    assert everything is catalog.everything_allowed() and everything.all() and len(everything) == 6
    with pytest.raises(ValueError):
        everything[0] = False  # shared by every request: nobody may narrow it in place
    assert catalog.excluded(everything).tolist() == []
    narrowed = everything & np.array([True, False, True, False, False, True])
    assert catalog.excluded(narrowed).tolist() == [1, 3]  # model items only, sorted
    assert catalog.excluded(np.ones(6, dtype=bool)).tolist() == []  # an equal mask of its own: the pass
