"""The real preprocessing job (Beam DirectRunner + TFT) on images served from 127.0.0.1."""
import json
import os

import h5py
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from streamgan.pipeline.preprocess_cmd import run
from streamgan.pipeline.serve import StaticServer
from streamgan.store.contract import FieldVocabulary, as_json, open_store, read_jsonl
from streamgan.store.summary import render, summarise
from tests.helpers import colour_of, encode, numbered
from tests.http_faults import fail_then_serve, html_page, slow

pytestmark = pytest.mark.slow
GOOD = 10


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A catalogue of good images plus every kind of trouble, served over HTTP."""
    root = tmp_path_factory.mktemp("site")
    (root / "img").mkdir()
    for i in range(GOOD):
        fmt = "PNG" if i % 3 == 0 else "JPEG"
        options = {"quality": 95} if fmt == "JPEG" else {}
        (root / "img" / f"{i}.{fmt.lower()}").write_bytes(encode(numbered(i), fmt, **options))
    (root / "img" / "truncated.jpg").write_bytes(encode(numbered(50, (200, 200)), "JPEG")[:400])
    (root / "img" / "copy-of-1.jpeg").write_bytes((root / "img" / "1.jpeg").read_bytes())
    flaky = encode(numbered(60), "JPEG", quality=95)
    routes = {"/flaky.jpg": fail_then_serve(1, 500, flaky, "image/jpeg"),
              "/slow.jpg": slow(5.0, flaky), "/page.html": html_page()}
    with StaticServer(str(root), routes=routes) as server:
        def url(name):
            return server.url_for(name)
        records = [{"url": url(f"img/{i}.{'png' if i % 3 == 0 else 'jpeg'}"),
                    "description": f"Item {i} red dress", "split": "train", "id": f"sku-{i}"}
                   for i in range(GOOD)]
        records += [
            {"url": url("img/missing.jpg"), "description": "gone"},             # 10: 404
            {"url": url("flaky.jpg"), "description": "flaky but fine"},          # 11: 500 then 200
            {"url": url("slow.jpg"), "description": "too slow"},                 # 12: timeout
            {"url": url("page.html"), "description": "an html page"},            # 13: not an image
            {"url": url("img/truncated.jpg"), "description": "cut short"},       # 14: truncated
            {"url": url("img/0.png"), "descriptions": ["Item 0 again", "crimson frock"]},  # 15: same url as 0
            {"url": url("img/copy-of-1.jpeg"), "description": "same bytes as 1"},  # 16: content of 1
            {"url": "http://127.0.0.1:9/refused.jpg", "description": "nobody listens"},    # 17: connection
        ]
        catalog = root / "catalog.json"
        catalog.write_text(json.dumps(records, indent=1))
        yield catalog, records


@pytest.fixture(scope="module")
def store(served, tmp_path_factory):
    catalog, _ = served
    out = str(tmp_path_factory.mktemp("out") / "store")
    manifest = run(["--catalog", str(catalog), "--output", out, "--image-size", "32",
                    "--timeout", "0.5", "--retries", "2", "--backoff", "0.05"])
    return out, manifest


def test_accounting_closes_and_is_in_the_manifest(store, served):
    out, manifest = store
    counts = manifest.counts
    assert counts.records == len(served[1]) == 18
    assert counts.written == GOOD + 1  # the good ones and the flaky one
    assert counts.rejected == 5 and counts.duplicates == 2
    assert counts.written + counts.rejected + counts.duplicates == counts.records
    assert counts.duplicates_by_kind == {"url": 1, "content": 1}
    assert json.load(open(os.path.join(out, "manifest.json")))["counts"] == as_json(counts)
    assert manifest.catalog.sha256 and manifest.versions["apache-beam"]


def test_each_rejected_record_is_one_specific_error_line(store):
    out, _ = store
    errors = list(read_jsonl(out))
    by_index = {e["index"]: (e["stage"], e["reason"]) for e in errors}
    assert by_index == {10: ("fetch", "http_status"), 12: ("fetch", "timeout"),
                        13: ("decode", "not_an_image"), 14: ("decode", "truncated"),
                        17: ("fetch", "connection")}
    assert [e["index"] for e in errors] == sorted(by_index)  # catalogue order
    assert "404" in next(e["message"] for e in errors if e["index"] == 10)
    assert all(e["url"] and e["message"] for e in errors)


def test_store_holds_images_in_catalogue_order_with_merged_descriptions(store, served):
    out, _ = store
    info = open_store(out)
    assert info.num_images == GOOD + 1 and info.image_size == 32
    with h5py.File(info.h5_path) as f:
        assert f["images"].dtype == np.uint8 and f["images"].shape == (GOOD + 1, 32, 32, 3)
        assert f["images"].chunks[0] >= 1 and f["images"].chunks[1:] == (32, 32, 3)
        assert f["index"][:].tolist() == list(range(GOOD)) + [11]
        images = f["images"][:]
        descriptions = [json.loads(d) for d in f["descriptions"].asstr()[:]]
        urls = f["url"].asstr()[:]
        extra = [json.loads(e) for e in f["extra"].asstr()[:]]
        splits = f["split"].asstr()[:]
        sha = f["sha256"].asstr()[:]
    for i in range(GOOD):  # the centre of each stored image has that record's colour
        np.testing.assert_allclose(images[i, 16, 16].astype(int), colour_of(i), atol=6)
    assert descriptions[0] == ["Item 0 red dress", "Item 0 again", "crimson frock"]
    assert descriptions[1] == ["Item 1 red dress", "same bytes as 1"]
    assert descriptions[GOOD] == ["flaky but fine"]
    assert urls[0] == served[1][0]["url"] and extra[3] == {"id": "sku-3"} and splits[0] == "train"
    assert len(set(sha)) == GOOD + 1 and all(len(s) == 64 for s in sha)


def test_transform_graph_loads_and_transforms_a_batch_of_the_store(store):
    out, manifest = store
    output = tft.TFTransformOutput(out)
    with h5py.File(os.path.join(out, "store.h5")) as f:
        batch = f["images"][:4]
    images = output.transform_features_layer()({"image": tf.constant([b.tobytes() for b in batch])})["image"]
    np.testing.assert_allclose(images.numpy(), batch / 127.5 - 1.0, atol=1e-5)
    vocab = {t.decode() for t in output.vocabulary_by_name("description")}
    assert {"item", "red", "dress", "crimson", "frock", "flaky"} <= vocab
    assert "gone" not in vocab  # rejected records do not shape the vocabulary
    # no record has a category: its vocabulary is empty, not TFT's placeholder entry
    assert manifest.vocabulary.fields["category"] == FieldVocabulary(size=0, top=())
    assert "field       category: no record has it" in render(summarise(out))
    mean = np.array(manifest.statistics.channel_mean)
    with h5py.File(os.path.join(out, "store.h5")) as f:
        np.testing.assert_allclose(mean, f["images"][:].reshape(-1, 3).mean(0), atol=0.05)


def test_existing_store_is_not_overwritten_without_overwrite(store, served):
    out, _ = store
    before = os.path.getmtime(os.path.join(out, "store.h5"))
    with pytest.raises(FileExistsError, match="--overwrite"):
        run(["--catalog", str(served[0]), "--output", out, "--image-size", "32"])
    assert os.path.getmtime(os.path.join(out, "store.h5")) == before
    assert not [p for p in os.listdir(os.path.dirname(out)) if ".partial-" in p]
