"""Catalogue problems: each is one line naming the record before any work; with
--skip-bad-records the record-level ones become error lines instead; a catalogue given by URL is
read like the images, and any failure to read it is one line."""
import json

import pytest

from streamgan.common.errors import CatalogError
from streamgan.pipeline.cli import main
from streamgan.pipeline.serve import StaticServer
from streamgan.preprocess.catalog import write_normalised
from tests.helpers import our_lines
from tests.http_faults import fail_then_serve, truncated

GOOD = {"url": "a.jpg", "description": "fine"}


def write(tmp_path, data: bytes, name="cat.json"):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def validate(path, tmp_path, **kwargs):
    return write_normalised(path, str(tmp_path / "records.jsonl"), **kwargs)


FATAL = [  # (bytes, what the one line must say): nothing can be read past these
    (b"this is not json", "is not a JSON array or JSON Lines"),
    (b'[{"url": "a.jpg", "description": "x"}, {"url": "b.jpg", "desc', "record 2: the catalogue "
     "ends in the middle of the JSON array (a truncated file?)"),
    (b'[{"url": "a.jpg", "description": "caf\xe9"}]', "record 1: invalid UTF-8 bytes"),
    (b"", "is empty"),
    (b"   \n", "is empty"),
    (b"[]", "holds no records"),
]


@pytest.mark.parametrize("data, expected", FATAL)
def test_fatal_catalogue_problems_are_one_line(tmp_path, data, expected):
    path = write(tmp_path, data)
    with pytest.raises(CatalogError) as info:
        validate(path, tmp_path, skip_bad=True, errors_path=str(tmp_path / "e.jsonl"))
    assert expected in str(info.value) and "\n" not in str(info.value)
    assert str(info.value).startswith("cat.json")


RECORD_PROBLEMS = [  # (record, reason, what the line says)
    ({"description": "no url"}, "no_url", "record 2: no `url` field (fields: description)"),
    ({"url": 17}, "bad_url", "record 2: `url` must be a non-empty string, got int 17"),
    ({"url": ["a.jpg"]}, "bad_url", "record 2: `url` must be a non-empty string, got list"),
    ({"url": "a.jpg", "description": 3}, "bad_field", "record 2: `description` must be a string"),
    ({"url": "a.jpg", "descriptions": [1, 2]}, "bad_field",
     "record 2: `descriptions` must be a list of strings"),
    ({"url": "mailto:shop@example.com"}, "bad_url", "record 2: `url` 'mailto:shop@example.com' "
     "is not a URL or a path"),
    ({"url": "www.shop.example/a.jpg"}, "bad_url", "looks like a web address without http(s)://"),
    ({"url": "//cdn.shop.example/a.jpg"}, "bad_url", "protocol-relative"),
    ({"url": "https:///no-host.jpg"}, "bad_url", "is not a valid URL (no host)"),
    ({"url": "http://shop.example:port/a.jpg"}, "bad_url", "is not a valid URL"),
    ({"url": "gopher://shop.example/a.jpg"}, "scheme", "scheme gopher:// is not allowed"),
    ("just a string", "not_an_object", "record 2: expected an object"),
]


@pytest.mark.parametrize("record, reason, expected", RECORD_PROBLEMS)
def test_record_problem_is_one_line_naming_the_record(tmp_path, record, reason, expected):
    path = write(tmp_path, json.dumps([GOOD, record, GOOD]).encode())
    with pytest.raises(CatalogError) as info:
        validate(path, tmp_path)
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_skip_bad_records_turns_each_record_problem_into_an_error_line(tmp_path):
    records = [GOOD] + [r for r, _, _ in RECORD_PROBLEMS] + [dict(GOOD, url="z.jpg")]
    path = write(tmp_path, json.dumps(records).encode())
    summary = validate(path, tmp_path, skip_bad=True, errors_path=str(tmp_path / "e.jsonl"))
    assert summary.records == len(records) and summary.bad == len(RECORD_PROBLEMS)
    errors = [json.loads(line) for line in (tmp_path / "e.jsonl").read_text().splitlines()]
    assert [(e["index"], e["stage"], e["reason"]) for e in errors] == [
        (i + 1, "catalog", reason) for i, (_, reason, _) in enumerate(RECORD_PROBLEMS)]
    kept = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    assert [r["index"] for r in kept] == [0, len(records) - 1]  # positions kept, bad ones gone


def test_json_lines_with_bad_lines_are_skipped_or_fatal(tmp_path):
    lines = [json.dumps(GOOD).encode(), b'{"url": "b.jpg", "description": "caf\xe9"}',
             b'{"url": "c.jpg", ', json.dumps(dict(GOOD, url="d.jpg")).encode()]
    path = write(tmp_path, b"\n".join(lines) + b"\n", "cat.jsonl")
    with pytest.raises(CatalogError, match=r"record 2 \(line 2\): invalid UTF-8 at byte 37"):
        validate(path, tmp_path)
    summary = validate(path, tmp_path, skip_bad=True, errors_path=str(tmp_path / "e.jsonl"))
    errors = [json.loads(line) for line in (tmp_path / "e.jsonl").read_text().splitlines()]
    assert [(e["index"], e["reason"]) for e in errors] == [(1, "invalid_json"), (2, "invalid_json")]
    assert summary.records == 4 and summary.bad == 2


@pytest.fixture()
def catalogue_site(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    body = json.dumps([GOOD, dict(GOOD, url="b.jpg")]).encode()
    (site / "catalog.json").write_bytes(body)
    routes = {"/flaky.json": fail_then_serve(1, 503, body, "application/json"),
              "/cut.json": truncated(body, "application/json")}
    with StaticServer(str(site), routes=routes) as server:
        yield server


def test_catalogue_by_http_url_is_read_like_the_images(catalogue_site, tmp_path):
    summary = validate(catalogue_site.url_for("flaky.json"), tmp_path)  # a 503, retried
    assert summary.records == 2 and summary.format == "json-array"
    kept = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    assert kept[1]["source"] == catalogue_site.base_url + "b.jpg"  # relative to the catalogue


@pytest.mark.parametrize("where, expected", [
    ("http-404", "cannot read catalogue http://127.0.0.1:{port}/missing.json: HTTP 404"),
    ("http-cut", "cannot read catalogue http://127.0.0.1:{port}/cut.json: "),
    ("refused", "cannot read catalogue http://127.0.0.1:9/catalog.json: cannot connect"),
    ("scheme", "cannot read catalogue nosuch://bucket/catalog.json: "),
    ("missing-file", "does not exist"),
])
def test_any_failure_to_read_the_catalogue_is_one_line(catalogue_site, tmp_path, capsys,
                                                       where, expected):
    path = {"http-404": catalogue_site.url_for("missing.json"),
            "http-cut": catalogue_site.url_for("cut.json"),
            "refused": "http://127.0.0.1:9/catalog.json",
            "scheme": "nosuch://bucket/catalog.json",
            "missing-file": str(tmp_path / "nope.json")}[where]
    out = tmp_path / "store"
    code = main(["preprocess", "--catalog", path, "--output", str(out), "--retries", "0"])
    err = capsys.readouterr().err  # (pytest's capture also shows the log file's lines)
    ours = our_lines(err)
    assert code == 2, err
    assert len(ours) == 1 and ours[0].startswith("streamgan preprocess: error: ")
    assert expected.format(port=catalogue_site.port) in ours[0]
    assert "Traceback" not in err and not out.exists()
