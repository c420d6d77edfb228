import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ps3_eval.errors import DataError
from ps3_eval.images import MAX_PIXELS_ENV, decode
from ps3_eval.records import ImageSource


def _encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_zero_byte_truncated_and_non_image(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        decode(ImageSource(path=str(empty)))
    good = _encode(Image.new("RGB", (200, 200), (9, 9, 9)), "JPEG")
    with pytest.raises(DataError, match="damaged or truncated"):
        decode(ImageSource(data=good[: len(good) // 2]))
    text = tmp_path / "notes.png"
    text.write_text("this is not an image")
    with pytest.raises(DataError, match="not an image"):
        decode(ImageSource(path=str(text)))
    with pytest.raises(DataError, match="does not exist"):
        decode(ImageSource(path=str(tmp_path / "gone.png")))


def test_modes_are_normalised_to_rgb() -> None:
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # pure red in CMYK
    img, _ = decode(ImageSource(data=_encode(cmyk, "JPEG")))
    assert img.mode == "RGB" and img.getpixel((4, 4))[0] > 200

    deep = Image.fromarray(np.full((8, 8), 65535, dtype=np.uint16))
    img, _ = decode(ImageSource(data=_encode(deep, "PNG")))
    assert img.mode == "RGB" and img.getpixel((0, 0)) == (255, 255, 255)

    pal = Image.new("P", (8, 8), 0)
    pal.putpalette([0, 0, 0, 10, 200, 10] + [0] * 762)
    pal.putpixel((0, 0), 1)
    pal.info["transparency"] = 0
    img, _ = decode(ImageSource(data=_encode(pal, "PNG", transparency=0)))
    assert img.getpixel((0, 0)) == (10, 200, 10) and img.getpixel((5, 5)) == (255, 255, 255)

    rgba = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    img, _ = decode(ImageSource(data=_encode(rgba, "PNG")))
    assert img.mode == "RGB" and img.getpixel((1, 1)) == (255, 255, 255)


def test_exif_orientation_is_applied() -> None:
    img = Image.new("RGB", (40, 20), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 10, 20))  # red strip on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: viewers turn it 90 degrees clockwise
    out, _ = decode(ImageSource(data=_encode(img, "JPEG", exif=exif.tobytes(), quality=95)))
    assert out.size == (20, 40)
    assert out.getpixel((10, 2))[0] > 200  # the red strip is now on top


def test_decompression_bomb_guard_and_override(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _encode(Image.new("L", (400, 400)), "PNG")
    monkeypatch.setenv(MAX_PIXELS_ENV, "10000")
    with pytest.raises(DataError, match=MAX_PIXELS_ENV):
        decode(ImageSource(data=data))
    monkeypatch.setenv(MAX_PIXELS_ENV, "1000000")
    img, _ = decode(ImageSource(data=data))
    assert img.size == (400, 400)


def test_digest_follows_content(tmp_path: Path) -> None:
    a = _encode(Image.new("RGB", (4, 4), (1, 2, 3)), "PNG")
    b = _encode(Image.new("RGB", (4, 4), (1, 2, 4)), "PNG")
    p = tmp_path / "a.png"
    p.write_bytes(a)
    assert decode(ImageSource(path=str(p)))[1] == decode(ImageSource(data=a))[1]
    assert decode(ImageSource(data=a))[1] != decode(ImageSource(data=b))[1]


def test_limit_returns_to_pillow_default(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _encode(Image.new("L", (400, 400)), "PNG")
    monkeypatch.setenv(MAX_PIXELS_ENV, "10000")
    with pytest.raises(DataError):
        decode(ImageSource(data=data))
    monkeypatch.delenv(MAX_PIXELS_ENV)
    assert decode(ImageSource(data=data))[0].size == (400, 400)


def _grey(img: Image.Image, xy: tuple[int, int]) -> int:
    r, g, b = img.getpixel(xy)
    assert r == g == b
    return int(r)


@pytest.mark.parametrize(
    ("dtype", "fmt", "value", "grey"),
    [
        (np.uint16, "PNG", 1000, 4),  # 16-bit PNG opens as "I;16"
        (np.uint16, "TIFF", 32768, 128),
        (np.int32, "TIFF", 1000, 4),  # 32-bit integer TIFF opens as "I"
        (np.float32, "TIFF", 0.5, 128),  # float TIFF opens as "F", 0..1
    ],
)
def test_deep_images_map_one_value_to_one_grey(
    dtype: type, fmt: str, value: float, grey: int
) -> None:
    # The same stored value must give the same grey whatever else is in the image: scaling by
    # each image's own maximum made a dim image look bright.
    dim = np.array([[0, value], [value, value]], dtype=dtype)
    bright = np.array([[0, value], [value, 65535 if dtype != np.float32 else 1.0]], dtype=dtype)
    greys = []
    for arr in (dim, bright):
        img, _ = decode(ImageSource(data=_encode(Image.fromarray(arr), fmt)))
        assert img.mode == "RGB"
        greys.append(_grey(img, (1, 0)))
    assert greys == [grey, grey]


def test_decoding_leaves_pillows_global_limit_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    before = Image.MAX_IMAGE_PIXELS
    monkeypatch.setenv(MAX_PIXELS_ENV, "10000")
    with pytest.raises(DataError, match="decompression-bomb"):
        decode(ImageSource(data=_encode(Image.new("L", (150, 100)), "PNG")))
    assert Image.MAX_IMAGE_PIXELS == before  # other code in the process keeps Pillow's guard


def test_bomb_check_holds_in_every_decode_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    # Images between the limit and twice the limit only make Pillow warn; the check must stop
    # them in every thread at once (warnings.catch_warnings is process-wide and raced).
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setenv(MAX_PIXELS_ENV, "10000")
    bomb = _encode(Image.new("L", (150, 100)), "PNG")  # 15,000 pixels
    fine = _encode(Image.new("L", (90, 100)), "PNG")  # 9,000 pixels

    def one(i: int) -> str:
        try:
            decode(ImageSource(data=bomb if i % 2 else fine))
        except DataError:
            return "refused" if i % 2 else "wrong"
        return "decoded" if i % 2 == 0 else "wrong"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(one, range(800)))
    assert outcomes.count("wrong") == 0
    assert outcomes.count("refused") == 400 and outcomes.count("decoded") == 400


def test_lmms_bridge_turns_an_image_decoded_elsewhere_upright() -> None:
    from ps3_eval.lmms import LmmsTask

    img = Image.new("RGB", (40, 20), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6
    opened = Image.open(io.BytesIO(_encode(img, "JPEG", exif=exif.tobytes())))
    [shown] = LmmsTask("probe4k").doc_to_visual({"image": opened})  # a PIL image from datasets
    assert shown.size == (20, 40) and shown.mode == "RGB"
    [again] = LmmsTask("probe4k").doc_to_visual({"image": shown})  # already upright: unchanged
    assert again.size == (20, 40)
