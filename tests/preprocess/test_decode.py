import numpy as np
import pytest
from PIL import Image

from streamgan.common.errors import RecordError
from streamgan.preprocess.decode import channel_moments, decode_image
from tests.helpers import encode, solid


def test_pad_keeps_the_whole_garment_on_white_and_crop_fills():
    wide = solid((200, 0, 0), size=(80, 40))
    padded = decode_image(encode(wide, "PNG"), 32, "pad")
    assert padded.shape == (32, 32, 3) and padded.dtype == np.uint8
    assert (padded[0] == 255).all() and (padded[-1] == 255).all()      # white bands top/bottom
    assert abs(int(padded[16, 16, 0]) - 200) <= 2 and padded[16, 16, 1] <= 2
    cropped = decode_image(encode(wide, "PNG"), 32, "crop")
    assert (np.abs(cropped.astype(int) - [200, 0, 0]) <= 2).all()


def test_background_colour_is_an_option():
    out = decode_image(encode(solid((0, 0, 200), size=(80, 40)), "PNG"), 16, "pad",
                       background=(0, 255, 0))
    assert tuple(out[0, 0]) == (0, 255, 0)


def test_transparency_is_composited_onto_white():
    img = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    img.paste((0, 0, 255, 255), (5, 5, 15, 15))
    out = decode_image(encode(img, "PNG"), 20, "pad")
    assert tuple(out[0, 0]) == (255, 255, 255)
    assert tuple(out[10, 10]) == (0, 0, 255)
    palette = img.convert("P")  # palette image with a transparent index
    assert tuple(decode_image(encode(palette, "GIF", transparency=0), 20)[0, 0]) in ((255, 255, 255),)


def test_exif_orientation_is_applied():
    # Tall image: red top half, blue bottom. EXIF 6 = "rotate 90 CW to display".
    arr = np.zeros((40, 20, 3), np.uint8)
    arr[:20] = (255, 0, 0)
    arr[20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(Image.fromarray(arr), "JPEG", quality=95, exif=exif.tobytes())
    out = decode_image(data, 40, "pad").astype(int)
    # Rotated 90 CW for display, red ends up on the right, blue on the left.
    assert out[20, 35, 0] > 200 and out[20, 35, 2] < 60
    assert out[20, 5, 2] > 200 and out[20, 5, 0] < 60


@pytest.mark.parametrize("fmt, mode", [("GIF", "P"), ("BMP", "RGB"), ("TIFF", "RGB"),
                                       ("WEBP", "RGB"), ("JPEG", "L"), ("JPEG", "CMYK"),
                                       ("PNG", "LA"), ("PNG", "I;16")])
def test_every_format_and_mode_becomes_rgb(fmt, mode):
    img = solid((10, 120, 230), size=(30, 30)).convert(mode) if mode != "I;16" else \
        Image.fromarray(np.full((30, 30), 40000, np.uint16))
    out = decode_image(encode(img, fmt), 16, "crop")
    assert out.shape == (16, 16, 3) and out.dtype == np.uint8
    assert 0 < out.mean() < 255


def test_draft_decoding_matches_full_decoding():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (8, 6, 3), dtype=np.uint8)
    photo = Image.fromarray(base).resize((600, 800), Image.Resampling.BICUBIC)  # smooth content
    data = encode(photo, "JPEG", quality=92)
    fast = decode_image(data, 64, "pad").astype(int)
    full = np.asarray(Image.open(__import__("io").BytesIO(data)).convert("RGB")
                      .resize((48, 64), Image.Resampling.LANCZOS)).astype(int)
    assert np.abs(fast[:, 8:56] - full).mean() < 4  # same picture, not just the same size


@pytest.mark.parametrize("data, reason", [
    (b"", "empty"),
    (b"<!DOCTYPE html><html><body>Not found</body></html>", "not_an_image"),
    (encode(solid((1, 2, 3), size=(64, 64)), "JPEG")[:300], "truncated"),
    (encode(solid((1, 2, 3), size=(64, 64)), "PNG")[:60], "truncated"),
])
def test_bad_bytes_get_a_specific_reason(data, reason):
    with pytest.raises(RecordError) as info:
        decode_image(data, 16)
    assert info.value.reason == reason and info.value.message


def test_decompression_bomb_is_refused_before_decoding():
    data = encode(Image.new("1", (4000, 4000)), "PNG")  # tiny file, 16M pixels
    with pytest.raises(RecordError) as info:
        decode_image(data, 16, max_pixels=1_000_000)
    assert info.value.reason == "too_many_pixels" and "4000x4000" in info.value.message


def test_channel_moments():
    pixels = np.zeros((4, 4, 3), np.uint8)
    pixels[..., 0] = 10
    pixels[:2, :, 1] = 20
    mean, sq = channel_moments(pixels)
    assert mean == pytest.approx([10, 10, 0]) and sq == pytest.approx([100, 200, 0])
