import hashlib
import json
import os

import pytest

from streamgan.preprocess.catalog import CatalogError, read_catalog, write_normalised


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_json_array_is_normalised_in_order_with_fields_kept(tmp_path):
    path = write(tmp_path, "c.json", json.dumps([
        {"url": "img/a.jpg", "description": "Red dress", "split": "train", "id": 7},
        {"url": "https://shop.example/b.png", "descriptions": ["blue", "long skirt"]},
        {"url": "/abs/c.jpg", "description": "x", "descriptions": ["y"]},
    ]))
    records = list(read_catalog(path))
    assert [r["index"] for r in records] == [0, 1, 2]
    assert records[0]["source"] == os.path.join(str(tmp_path), "img", "a.jpg")
    assert records[0]["url"] == "img/a.jpg"
    assert records[0]["extra"] == {"id": 7} and records[0]["split"] == "train"
    assert records[1]["source"] == "https://shop.example/b.png"
    assert records[1]["descriptions"] == ["blue", "long skirt"]
    assert records[2]["descriptions"] == ["x", "y"] and records[2]["source"] == "/abs/c.jpg"


def test_json_lines_and_sha256_and_max_records(tmp_path):
    text = "\n".join(json.dumps({"url": f"{i}.jpg", "description": str(i)}) for i in range(5)) + "\n"
    path = write(tmp_path, "c.jsonl", text)
    out = tmp_path / "norm.jsonl"
    summary = write_normalised(path, str(out))
    assert summary.records == 5 and summary.format == "jsonl"
    assert summary.sha256 == hashlib.sha256(text.encode()).hexdigest()
    assert [json.loads(line)["index"] for line in out.read_text().splitlines()] == list(range(5))
    assert write_normalised(path, str(out), max_records=2).records == 2


@pytest.mark.parametrize("text, expected", [
    ("not json at all", "is not a JSON array or JSON Lines"),
    ("42", "is not a JSON array or JSON Lines"),
    ("", "is empty"),
    ("[]", "holds no records"),
    ('{\n "records": []\n}', "is neither a JSON array nor JSON Lines"),
    ('[{"url": "a.jpg", "description": "a"}, {"description": "no url"}]',
     "record 2: no `url` field"),
    ('[{"url": "a.jpg"}, {"url": "b.jpg"}, {"url": 5}]', "record 3: `url` must be a non-empty string"),
    ('[{"url": "a.jpg", "description": ["list"]}]', "record 1: `description` must be a string"),
    ('[{"url": "a.jpg", "descriptions": "one"}]', "record 1: `descriptions` must be a list of strings"),
    ('[{"url": "a.jpg"}, "just a string"]', "record 2: expected an object"),
    ('[{"url": "a.jpg"}, {"url": "b.jpg",, }]', "record 2: invalid JSON"),
    ('{"url": "a.jpg"}\n{"url": }\n', "record 2 (line 2): invalid JSON"),
    ('[{"url": "a.jpg", "split": 3}]', "record 1: `split` must be a string"),
])
def test_malformed_catalogue_is_one_line_naming_the_record(tmp_path, text, expected):
    path = write(tmp_path, "bad.json", text)
    with pytest.raises(CatalogError) as info:
        write_normalised(path, str(tmp_path / "out.jsonl"))
    message = str(info.value)
    assert expected in message and "\n" not in message and message.startswith("bad.json")


def test_missing_catalogue_file(tmp_path):
    with pytest.raises(CatalogError, match="does not exist"):
        list(read_catalog(str(tmp_path / "nope.json")))
