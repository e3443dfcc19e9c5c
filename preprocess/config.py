"""Options of the preprocessing job, as one typed dataclass built once from the command line."""
from __future__ import annotations

import argparse
import dataclasses
import os

from preprocess.catalog import CatalogError

FITS = ("pad", "crop")


@dataclasses.dataclass(frozen=True)
class PreprocessConfig:
    catalog: str
    output: str
    image_size: int = 64
    fit: str = "pad"
    background: tuple[int, int, int] = (255, 255, 255)
    max_records: int | None = None
    overwrite: bool = False
    # Fetching
    timeout: float = 20.0
    retries: int = 3
    backoff: float = 0.5
    max_bytes: int = 30 * 1024 * 1024
    fetch_threads: int = 16
    decode_threads: int | None = None  # None: cores / worker processes
    # Decoding
    max_pixels: int = 64 * 1024 * 1024
    # TFT analysis
    vocab_top_k: int = 20000
    vocab_min_frequency: int = 1
    # Store
    compression: str | None = None

    def validate(self) -> "PreprocessConfig":
        """Raise CatalogError (a one-line user error) for options that cannot work."""
        if not 8 <= self.image_size <= 1024:
            raise CatalogError(f"--image-size {self.image_size}: use a size between 8 and 1024")
        if self.fit not in FITS:
            raise CatalogError(f"--fit {self.fit}: use one of {', '.join(FITS)}")
        if self.max_records is not None and self.max_records < 1:
            raise CatalogError(f"--max-records {self.max_records}: must be at least 1")
        if (self.timeout <= 0 or self.retries < 0 or self.fetch_threads < 1 or self.max_bytes < 1
                or (self.decode_threads is not None and self.decode_threads < 1)):
            raise CatalogError("--timeout, --max-bytes and --fetch-threads must be positive, "
                               "--retries at least 0")
        if self.compression not in (None, "gzip", "lzf"):
            raise CatalogError(f"--compression {self.compression}: use none, gzip or lzf")
        return self

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The job's own options; anything else on the command line goes to Beam's PipelineOptions."""
    d = PreprocessConfig
    parser.add_argument("--catalog", required=True,
                        help="catalogue: a JSON array or JSON Lines of {url, description} records")
    parser.add_argument("--output", required=True, help="store directory to create")
    parser.add_argument("--image-size", type=int, default=d.image_size,
                        help="side of the square stored images in pixels (default %(default)s)")
    parser.add_argument("--fit", choices=FITS, default=d.fit,
                        help="pad: keep the whole garment, pad with --background; "
                             "crop: centre crop (default %(default)s)")
    parser.add_argument("--background", type=parse_colour, default=d.background,
                        help="padding and transparency colour (default white)")
    parser.add_argument("--max-records", type=int, default=None,
                        help="only the first N records of the catalogue (for a quick try)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing store")
    parser.add_argument("--dry-run", action="store_true",
                        help="validate the catalogue, print the resolved options and exit")
    parser.add_argument("--timeout", type=float, default=d.timeout,
                        help="seconds per HTTP connect and per read (default %(default)s)")
    parser.add_argument("--retries", type=int, default=d.retries,
                        help="retries for 429/5xx/connection errors, with backoff "
                             "(default %(default)s)")
    parser.add_argument("--backoff", type=float, default=d.backoff,
                        help="backoff factor in seconds between retries (default %(default)s)")
    parser.add_argument("--max-bytes", type=int, default=d.max_bytes,
                        help="largest accepted download in bytes (default 30 MiB)")
    parser.add_argument("--fetch-threads", type=int, default=d.fetch_threads,
                        help="concurrent fetches per worker process (default %(default)s)")
    parser.add_argument("--decode-threads", type=int, default=None,
                        help="concurrent decodes per worker process (default: cores / workers)")
    parser.add_argument("--max-pixels", type=int, default=d.max_pixels,
                        help="refuse images with more pixels (decompression bombs; default 64M)")
    parser.add_argument("--vocab-top-k", type=int, default=d.vocab_top_k,
                        help="keep the K most frequent description tokens (default %(default)s)")
    parser.add_argument("--vocab-min-frequency", type=int, default=d.vocab_min_frequency,
                        help="drop tokens seen fewer times (default %(default)s)")
    parser.add_argument("--compression", choices=("none", "gzip", "lzf"), default="none",
                        help="HDF5 compression of the images (default none: fastest to read)")


def config_from_args(args: argparse.Namespace) -> PreprocessConfig:
    return PreprocessConfig(
        catalog=args.catalog, output=os.path.abspath(args.output), image_size=args.image_size,
        fit=args.fit, background=tuple(args.background), max_records=args.max_records,
        overwrite=args.overwrite, timeout=args.timeout, retries=args.retries,
        backoff=args.backoff, max_bytes=args.max_bytes, fetch_threads=args.fetch_threads,
        decode_threads=args.decode_threads,
        max_pixels=args.max_pixels, vocab_top_k=args.vocab_top_k,
        vocab_min_frequency=args.vocab_min_frequency,
        compression=None if args.compression == "none" else args.compression,
    ).validate()
