"""A store boiled down to what a person asks first: counts, image size, statistics,
vocabulary, the change summary and the first errors. `streamgan inspect` prints it (text or
--json) and every run's report.html shows it."""
from __future__ import annotations

import dataclasses
import itertools

from streamgan.store.contract import StoreInfo, as_json, open_store, read_jsonl


@dataclasses.dataclass(frozen=True)
class Summary:
    """A store boiled down to what a person asks first: its manifest and first errors."""
    store: str
    info: StoreInfo
    first_errors: list[dict]

    def to_json(self) -> dict:
        """The --json output."""
        m = self.info.manifest
        return {
            "store": self.store,
            "catalog": as_json(m.catalog),
            "counts": as_json(m.counts),
            "image": dict(as_json(m.image), stored=self.info.num_images,
                          chunk_rows=self.info.chunk_rows),
            "statistics": as_json(m.statistics),
            "vocabulary": as_json(m.vocabulary),
            "rejected_by_reason": m.rejected_by_reason,  # counted once, when it was written
            "first_errors": self.first_errors,
            "created": m.created,
            "timings": as_json(m.timings),
            "previous": as_json(m.previous) or {},
        }


def summarise(store_dir: str, show_errors: int = 5) -> Summary:
    return Summary(store_dir, open_store(store_dir, allow_empty=True),
                   list(itertools.islice(read_jsonl(store_dir), show_errors)))


def render(s: Summary) -> str:
    m = s.info.manifest
    c, img, st, vocab = m.counts, m.image, m.statistics, m.vocabulary
    fmt = lambda values: "  ".join(f"{v:6.1f}" for v in values)  # noqa: E731
    lines = [
        f"store       {s.store}  (created {m.created})",
        f"catalogue   {m.catalog.path}  sha256 {m.catalog.sha256[:16]}",
        f"records     {c.records}: {c.written} written"
        + (f" ({c.reused} reused from the previous store)" if c.reused else "")
        + f", {c.rejected} rejected, "
        f"{c.duplicates} duplicates "
        f"({', '.join(f'{k} {v}' for k, v in c.duplicates_by_kind.items()) or 'none'})",
        f"splits      {', '.join(f'{k} {v}' for k, v in c.splits.items()) or '-'}",
        f"images      {s.info.num_images} x {img.size}x{img.size}x3 uint8, fit {img.fit}, "
        f"chunks of {s.info.chunk_rows}",
        f"channels    mean R G B {fmt(st.channel_mean)}",
        f"            std  R G B {fmt(st.channel_std)}",
        f"vocabulary  {vocab.size} tokens; top: {' '.join(vocab.top[:15])}",
    ]
    for field, values in vocab.fields.items():
        if not values.size:
            lines.append(f"field       {field}: no record has it")
            continue
        lines.append(f"field       {field}: {values.size} values; top: "
                     f"{', '.join(values.top[:10])}  (streamgan train --condition {field})")
    if m.previous:
        lines.append("previous    " + m.previous.line())
    if m.rejected_by_reason:
        lines.append("rejected    " + ", ".join(f"{k} {v}" for k, v in m.rejected_by_reason.items()))
        for e in s.first_errors:
            lines.append(f"  #{e['index']} {e['stage']}/{e['reason']}: {e['message']}  {e['url']}")
    return "\n".join(lines)
