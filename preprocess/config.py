"""Options of the preprocessing job: one typed dataclass, each option declared once (see
common/options.py). `store=True` marks the options that change what a store holds."""
from __future__ import annotations

import argparse
import dataclasses
import os

from streamgan.common.errors import ConfigError
from streamgan.common.files import absolute, is_remote
from streamgan.common.options import add_options, check_choice, from_args, option
from streamgan.preprocess.freshness import REVALIDATE_CHOICES
from streamgan.store.contract import field_name_problem, image_size_problem, parse_image_size


def parse_colour(text: str) -> tuple[int, int, int]:
    """'white', '#ffffff' or '255,255,255' -> an RGB tuple."""
    from PIL import ImageColor
    try:
        if "," in text:
            rgb = tuple(int(v) for v in text.split(","))
            if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
                raise ValueError
            return rgb  # type: ignore[return-value]
        return ImageColor.getrgb(text)[:3]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a colour: use a name (white), #rrggbb or r,g,b") from None


def parse_fields(text: str) -> tuple[str, ...]:
    """'category,colour' -> ('category', 'colour'); '' or 'none' -> ()."""
    if text.strip() in ("", "none"):
        return ()
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    for name in names:
        problem = field_name_problem(name)
        if problem:
            raise argparse.ArgumentTypeError(problem)
    return names


def parse_compression(text: str) -> str | None:
    return None if text == "none" else text


STORE_GROUP = "store content (a change makes a new store)"
FETCH_GROUP = "fetching and decoding"
SAFETY_GROUP = "bad records and safety"
SEASON_GROUP = "reusing a previous store (a new season's catalogue)"
PRIVATE_ADDRESS_CHOICES = ("auto", "deny", "allow")


@dataclasses.dataclass(frozen=True)
class PreprocessConfig:
    catalog: str = option(help="catalogue: a JSON array or JSON Lines of {url, description} "
                               "records")
    output: str = option(help="store directory to create")
    image_size: int = option(64, parse=parse_image_size, store=True, pixels=True, group=STORE_GROUP,
                             help="side of the square stored images in pixels")
    fit: str = option("pad", choices=("pad", "crop"), store=True, pixels=True, group=STORE_GROUP,
                      help="pad: keep the whole garment, pad with --background; "
                           "crop: centre crop")
    background: tuple[int, int, int] = option(
        (255, 255, 255), parse=parse_colour, store=True, pixels=True, group=STORE_GROUP,
        default_text="white", help="padding and transparency colour")
    max_records: int | None = option(None, store=True, group=STORE_GROUP,
                                     default_text="all",
                                     help="only the first N records of the catalogue")
    max_bytes: int = option(30 * 1024 * 1024, store=True, pixels=True, group=STORE_GROUP,
                            default_text="30 MiB", help="largest accepted download in bytes")
    max_pixels: int = option(64 * 1024 * 1024, store=True, pixels=True, group=STORE_GROUP,
                             default_text="64M",
                             help="refuse images with more pixels (decompression bombs)")
    max_aspect: float = option(10.0, store=True, pixels=True, group=STORE_GROUP,
                               help="reject images whose long side is more than this many "
                                    "times the short side (banners, broken strips)")
    vocab_top_k: int = option(20000, store=True, group=STORE_GROUP,
                              help="keep the K most frequent description tokens")
    vocab_min_frequency: int = option(1, store=True, group=STORE_GROUP,
                                      help="drop tokens seen fewer times")
    condition_fields: tuple[str, ...] = option(
        ("category",), parse=parse_fields, store=True, group=STORE_GROUP, metavar="F1,F2",
        default_text="category",
        help="categorical catalogue fields TFT builds a vocabulary for, so `streamgan train "
             "--condition FIELD` can condition on them (none: no field)")
    compression: str | None = option(None, parse=parse_compression,
                                     choices=(None, "gzip", "lzf"), store=True,
                                     group=STORE_GROUP,
                                     help="HDF5 compression of the images (none: fastest "
                                          "to read)")
    overwrite: bool = option(False, help="replace an existing store")
    timeout: float = option(20.0, group=FETCH_GROUP,
                            help="seconds per HTTP connect and per read")
    retries: int = option(3, group=FETCH_GROUP,
                          help="retries for 429/5xx/connection errors, with backoff")
    backoff: float = option(0.5, group=FETCH_GROUP,
                            help="backoff factor in seconds between retries")
    fetch_deadline: float = option(120.0, group=FETCH_GROUP,
                                   help="seconds for the whole download of one image's body "
                                        "(a server trickling bytes never trips --timeout)")
    fetch_threads: int = option(16, group=FETCH_GROUP,
                                help="concurrent fetches per worker process")
    revalidate_threads: int = option(64, group=FETCH_GROUP,
                                     help="concurrent conditional GETs per worker process, in "
                                          "their own pool beside --fetch-threads: an answer "
                                          "304 carries no body, so many more can be in flight "
                                          "than downloads")
    fetch_batch: int = option(64, group=FETCH_GROUP,
                              help="records per unit of work: a worker fetches a unit's "
                                   "records together and saves them as one scratch shard "
                                   "(atomically); a killed job reruns at most this many "
                                   "records per worker")
    decode_threads: int | None = option(None, group=FETCH_GROUP,
                                        default_text="cores / workers",
                                        help="concurrent decodes per worker process")

    previous: str | None = option(None, group=SEASON_GROUP, metavar="STORE",
                                  help="a store made earlier (last season's): images whose "
                                       "source, and ETag / Last-Modified where the server sent "
                                       "them, are unchanged are taken from it instead of "
                                       "fetched (a conditional GET answered 304 is a reuse); "
                                       "`streamgan run` passes the workdir's latest store")
    refetch: bool = option(False, group=SEASON_GROUP,
                           help="fetch every image, even those the previous store has")
    revalidate: str = option("auto", choices=REVALIDATE_CHOICES, group=SEASON_GROUP,
                             help="when a previous store's image is asked about: auto = HTTP's "
                                  "rules (RFC 9111: a fresh one is reused with no request, a "
                                  "stale or no-cache one gets a conditional GET, one without "
                                  "validators or freshness is fetched again); never = reuse "
                                  "every one unasked (versioned URLs); always = a conditional "
                                  "GET for each")

    skip_bad_records: bool = option(False, group=SAFETY_GROUP,
                                    help="report a malformed catalogue record as one line in "
                                         "errors.jsonl (stage catalog) and go on, instead of "
                                         "stopping before any work")
    allow_local_files: bool = option(False, group=SAFETY_GROUP,
                                     help="let a catalogue read from a remote location (http, "
                                          "gs, s3) name local paths and file:// URLs")
    private_addresses: str = option("auto", choices=PRIVATE_ADDRESS_CHOICES, group=SAFETY_GROUP,
                                    help="fetching from loopback, link-local and private "
                                         "addresses: deny, allow, or auto = deny for a "
                                         "catalogue read from a remote location, allow for a "
                                         "local one")

    def deny_private(self) -> bool:
        """Whether fetches must refuse non-public addresses (see docs/reliability.md)."""
        if self.private_addresses == "auto":
            return is_remote(self.catalog)
        return self.private_addresses == "deny"

    def allow_local(self) -> bool:
        """Whether records may name local files: yes for a local catalogue."""
        return self.allow_local_files or not is_remote(self.catalog)

    def validate(self) -> "PreprocessConfig":
        """Raise ConfigError (a one-line user error) for options that cannot work."""
        problem = image_size_problem(self.image_size)
        if problem:
            raise ConfigError(f"--image-size {problem}")
        check_choice(PreprocessConfig, "fit", self.fit, ConfigError)
        check_choice(PreprocessConfig, "compression", self.compression, ConfigError)
        for name in self.condition_fields:
            problem = field_name_problem(name)
            if problem:
                raise ConfigError(f"--condition-fields {problem}")
        check_choice(PreprocessConfig, "private_addresses", self.private_addresses, ConfigError)
        check_choice(PreprocessConfig, "revalidate", self.revalidate, ConfigError)
        if self.max_records is not None and self.max_records < 1:
            raise ConfigError(f"--max-records {self.max_records}: must be at least 1")
        if self.max_aspect < 1:
            raise ConfigError(f"--max-aspect {self.max_aspect:g}: must be at least 1 (1 = only "
                              "square images)")
        if (self.timeout <= 0 or self.fetch_deadline <= 0 or self.retries < 0
                or self.fetch_threads < 1 or self.max_bytes < 1 or self.revalidate_threads < 1
                or self.fetch_batch < 1
                or (self.decode_threads is not None and self.decode_threads < 1)):
            raise ConfigError("--timeout, --fetch-deadline, --max-bytes, --fetch-threads, "
                              "--revalidate-threads and --fetch-batch must be positive, "
                              "--retries at least 0")
        return self

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The job's own options; anything else on the command line goes to Beam's PipelineOptions."""
    add_options(parser, PreprocessConfig)
    parser.add_argument("--dry-run", action="store_true",
                        help="validate the catalogue, print the resolved options and exit")


def config_from_args(args: argparse.Namespace) -> PreprocessConfig:
    cfg = from_args(PreprocessConfig, args, output=os.path.abspath(args.output))
    if cfg.previous:
        cfg = dataclasses.replace(cfg, previous=absolute(cfg.previous))
    return cfg.validate()

