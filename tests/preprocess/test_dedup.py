"""Deduplication against the on-disk index: the first record of a key is kept with every
description of its duplicates merged in; each duplicate is one line naming the first."""
from streamgan.preprocess.dedup import FirstSeen


def rec(index, url, *descriptions):
    return {"index": index, "url": url, "source": url, "descriptions": list(descriptions)}


def test_duplicates_merge_their_descriptions_into_the_first_record(tmp_path):
    records = [rec(0, "a", "red dress"), rec(1, "a", "red dress", "maxi"), rec(3, "b", "red dress"),
               rec(5, "a", "crimson frock"), rec(6, "c", "shirt"), rec(7, "b")]
    seen = FirstSeen(str(tmp_path / "index.sqlite"), "url")
    lines = [seen.add(r["source"], r) for r in records]
    assert [line for line in lines if line] == [
        {"index": 1, "url": "a", "kind": "url", "duplicate_of": 0},
        {"index": 5, "url": "a", "kind": "url", "duplicate_of": 0},
        {"index": 7, "url": "b", "kind": "url", "duplicate_of": 3}]
    firsts = [r for r, line in zip(records, lines) if line is None]
    merged = [(r["index"], r["descriptions"]) for r in seen.merged(firsts)]
    assert merged == [(0, ["red dress", "maxi", "crimson frock"]), (3, ["red dress"]),
                      (6, ["shirt"])]
    assert seen.duplicates == 3


def test_a_first_record_left_out_later_merges_nothing_into_the_next(tmp_path):
    """Content dedup runs over decoded records only; the index must not shift one record's
    duplicates onto another when some firsts are not passed to merged()."""
    seen = FirstSeen(str(tmp_path / "index.sqlite"), "content")
    records = [rec(0, "x", "one"), rec(2, "y", "two"), rec(4, "x", "one again")]
    for r in records:
        seen.add(r["source"], r)
    assert [r["descriptions"] for r in seen.merged([records[1]])] == [["two"]]
    assert [r["descriptions"] for r in seen.merged(records[:2])] == [["one", "one again"], ["two"]]
