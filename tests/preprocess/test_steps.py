"""Beam steps under TestPipeline: deduplication keeps the first record and merges descriptions."""
import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from preprocess.steps import DUPLICATES, DropDuplicates


def rec(index, url, *descriptions):
    return {"index": index, "url": url, "source": url, "descriptions": list(descriptions)}


def test_duplicates_merge_their_descriptions_into_the_first_record():
    records = [rec(3, "b", "red dress"), rec(0, "a", "red dress"), rec(5, "a", "crimson frock"),
               rec(1, "a", "red dress", "maxi")]
    with TestPipeline() as p:
        result = p | beam.Create(records) | DropDuplicates("source", "url")
        kept = result.kept | "Kept" >> beam.Map(lambda r: (r["index"], r["descriptions"]))
        assert_that(kept, equal_to([(0, ["red dress", "maxi", "crimson frock"]),
                                    (3, ["red dress"])]), label="KeptRecords")
        dups = result[DUPLICATES] | "Dups" >> beam.Map(lambda d: (d["index"], d["duplicate_of"], d["kind"]))
        assert_that(dups, equal_to([(1, 0, "url"), (5, 0, "url")]), label="Duplicates")
