"""A factual stand-in for the vision model: the dominant colour of the product in its
image, the image's shape and the product type named by the title."""

import functools
import io
from collections import Counter

from PIL import Image, ImageChops, ImageDraw, ImageFilter

from judging.contracts import ProductContext

from .product import product_type_name

PALETTE = {
    "black": (32, 32, 34),
    "white": (246, 246, 244),
    "grey": (135, 135, 140),
    "navy": (28, 40, 92),
    "blue": (52, 104, 190),
    "red": (200, 32, 42),
    "burgundy": (118, 22, 46),
    "pink": (236, 150, 182),
    "beige": (216, 196, 160),
    "camel": (190, 140, 80),
    "brown": (118, 74, 40),
    "green": (48, 130, 72),
    "olive": (108, 114, 52),
    "yellow": (236, 196, 42),
    "orange": (230, 126, 34),
    "purple": (112, 48, 160),
}
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
MAX_PIXELS = 40_000_000  # decompression bombs: refuse before decoding
SAMPLE_SIDE = 128  # colours are counted on a small copy; more pixels change nothing
BACKGROUND_TOLERANCE = 14  # per channel: JPEG noise and soft shadows stay backdrop
SECONDARY_SHARE = 0.2
# Dilation to the four direct neighbours (sums clip at 255): a diagonal step would slip
# through the corner of a thin outline.
_CROSS = ImageFilter.Kernel((3, 3), [0, 1, 0, 1, 1, 1, 0, 1, 0], scale=1)


def offline_describe(product: ProductContext, image_bytes: bytes | None) -> str:
    kind = f"Product type (from the title): {product_type_name(product)}."
    if image_bytes is None:
        return f"No image available. {kind}"
    try:
        image, (width, height) = _open(image_bytes)
    except (OSError, ValueError, Image.DecompressionBombError):
        return f"The image could not be read. {kind}"
    shape = "landscape" if width > 1.1 * height else "portrait" if height > 1.1 * width else "square"
    colours = _product_colours(image)
    text = f"Product photo, {shape} ({width}x{height} px). Dominant colour: {colours[0]}"
    if len(colours) > 1:
        text += f", with {colours[1]}"
    return f"{text}. {kind}"


def _open(data: bytes) -> tuple[Image.Image, tuple[int, int]]:
    """The decoded image (possibly reduced while decoding) and its original size."""
    image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    size = image.size
    if size[0] * size[1] > MAX_PIXELS:
        raise ValueError("image too large")
    # JPEGs can decode straight at a fraction of their size: far less work for big photos.
    image.draft("RGB", (SAMPLE_SIDE * 2, SAMPLE_SIDE * 2))
    image.load()
    return image, size


def _product_colours(image: Image.Image) -> list[str]:
    """Palette names of the product's pixels, most frequent first (one or two)."""
    scale = min(1.0, SAMPLE_SIDE / max(image.size))
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    # Nearest neighbour keeps real colours: smoothing would invent in-between shades.
    small = _rgb(image).resize(size, Image.Resampling.NEAREST)
    background = _background(small)
    pixels = Counter(rgb for rgb, bg in zip(small.get_flattened_data(), background.get_flattened_data()) if not bg)
    if not pixels:  # nothing but backdrop: describe what there is
        pixels = Counter(small.get_flattened_data())
    counts: Counter[str] = Counter()
    for rgb, count in pixels.items():
        counts[_nearest(rgb)] += count
    # Ties break by palette order, so the same image always gets the same words.
    ranked = sorted(counts.items(), key=lambda item: (-item[1], list(PALETTE).index(item[0])))
    names = [ranked[0][0]]
    if len(ranked) > 1 and ranked[1][1] >= SECONDARY_SHARE * pixels.total():
        names.append(ranked[1][0])
    return names


def _rgb(image: Image.Image) -> Image.Image:
    # Transparent pixels are backdrop: flatten them onto white rather than onto black.
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, PALETTE["white"])
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")


def _background(image: Image.Image) -> Image.Image:
    """A mask (255 = backdrop) of the pixels connected to the border that look like the
    most common border colour. A flood fill, not a colour test: a white shirt on a white
    backdrop keeps its inside, as long as an outline or shadow separates them."""
    w, h = image.size
    # An RGB image (the caller converts): every pixel is an (r, g, b) tuple.
    rgb_image = image.convert("RGB")

    def pixel(x: int, y: int) -> tuple[int, int, int]:
        r, g, b = rgb_image.getpixel((x, y))  # type: ignore[misc]  # Pillow types a pixel as a union of modes
        return r, g, b

    border = [pixel(x, y) for x in range(w) for y in (0, h - 1)] + [pixel(x, y) for y in range(h) for x in (0, w - 1)]
    # Coarse bins absorb JPEG noise when picking the backdrop colour.
    bins = Counter(tuple(c // 16 for c in rgb) for rgb in border)
    top_bin = min(bins.items(), key=lambda item: (-item[1], item[0]))[0]
    members = [rgb for rgb in border if tuple(c // 16 for c in rgb) == top_bin]
    reference = tuple(sum(rgb[i] for rgb in members) // len(members) for i in range(3))
    # Backdrop-like pixels: every channel within the tolerance of the reference colour.
    r, g, b = ImageChops.difference(image, Image.new("RGB", image.size, reference)).split()
    close = ImageChops.lighter(ImageChops.lighter(r, g), b).point(lambda v: 255 if v <= BACKGROUND_TOLERANCE else 0)
    # Grow from the border through backdrop-like pixels (dilation, repeated until stable).
    filled = Image.new("L", image.size, 0)
    ImageDraw.Draw(filled).rectangle((0, 0, w - 1, h - 1), outline=255)
    filled = ImageChops.multiply(filled, close)
    while True:
        grown = ImageChops.multiply(filled.filter(_CROSS), close)
        if grown.tobytes() == filled.tobytes():
            return filled
        filled = grown


@functools.lru_cache(maxsize=65536)
def _nearest(rgb: tuple[int, int, int]) -> str:
    return min(PALETTE, key=lambda name: _distance(rgb, PALETTE[name]))


def _distance(a, b) -> float:
    # "Redmean" weighting: closer to how different two colours look than plain RGB distance.
    r = (a[0] + b[0]) / 2
    dr, dg, db = a[0] - b[0], a[1] - b[1], a[2] - b[2]
    return ((2 + r / 256) * dr * dr + 4 * dg * dg + (2 + (255 - r) / 256) * db * db) ** 0.5
