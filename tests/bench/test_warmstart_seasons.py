"""bench.warmstart's two seasons (its split had vanished once without a test seeing it): season
1 never sees a new category, season 2 has each new one with the photos asked for, and both are
scored against the validation photos of their own categories."""
import collections
import json

from bench.warmstart import seasons

COUNTS = {"tee": 50, "pants": 40, "hat": 30, "skirt": 25}


def test_season_2_brings_new_categories_with_the_photos_asked_for(tmp_path):
    records = [{"url": f"{name}/{i}.jpg", "description": name, "split": split}
               for name, count in COUNTS.items() for i in range(count)
               for split in ["train" if i % 5 else "validation"]]
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(records))
    first, second = seasons(str(catalog), {"hat": None, "skirt": 7})

    def train(season):
        return collections.Counter(r["description"] for r in season if r["split"] == "train")
    assert set(train(first)) == {"tee", "pants"}  # the new categories are season 2's alone
    assert train(second)["hat"] == 24 and train(second)["skirt"] == 7  # all / as asked
    # season 2 keeps most of season 1's photos and brings the ones season 1 never had
    kept = {r["url"] for r in first} & {r["url"] for r in second if r["split"] == "train"}
    assert 0.5 * sum(train(first).values()) <= len(kept) < sum(train(first).values())
    assert sum(train(second)[c] for c in ("tee", "pants")) > len(kept)
    assert {r["description"] for r in first if r["split"] == "validation"} == {"tee", "pants"}
    assert {r["description"] for r in second if r["split"] == "validation"} == set(COUNTS)
    assert all(r["url"].startswith(str(tmp_path)) for r in first + second)  # absolute paths
