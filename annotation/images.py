"""Product images: validate with Pillow, re-encode, store under a content-hash name.

Whatever arrives (a file from an import, later a download) is untrusted: only known
formats are opened, the pixel count is checked before decoding (decompression bombs),
the image is fully decoded, then re-encoded as JPEG so that what we store and serve
is an image we wrote ourselves.
"""

import hashlib
import io
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from PIL import Image, UnidentifiedImageError

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")


class ImageRejected(ValueError):
    pass


@dataclass(frozen=True)
class StoredImage:
    stored_name: str
    sha256: str
    width: int
    height: int


def image_reencode(data: bytes) -> tuple[bytes, int, int]:
    """Return (jpeg bytes, width, height) of a validated, re-encoded copy of data."""
    if len(data) > settings.QRELAY_IMAGE_MAX_BYTES:
        raise ImageRejected(f"image is larger than {settings.QRELAY_IMAGE_MAX_BYTES} bytes")
    max_pixels = settings.QRELAY_IMAGE_MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as img:
                # Checked on the header, before any pixel is decoded.
                if img.width * img.height > max_pixels:
                    raise ImageRejected(
                        f"image has {img.width}x{img.height} pixels, more than the limit of {max_pixels}"
                    )
                img.load()
                rgb = _to_rgb(img)
    except ImageRejected:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected(f"not an image in an accepted format ({', '.join(ALLOWED_FORMATS)}) or too large") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected(f"image is damaged: {exc}") from None
    side = settings.QRELAY_IMAGE_MAX_SIDE
    rgb.thumbnail((side, side))
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=85, optimize=True)
    return out.getvalue(), rgb.width, rgb.height


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")


def image_store(*, data: bytes) -> StoredImage:
    encoded, width, height = image_reencode(data)
    return image_save(encoded=encoded, width=width, height=height)


def image_save(*, encoded: bytes, width: int, height: int) -> StoredImage:
    """Store bytes that image_reencode returned; separate so that an import can validate
    every image first and write files only once the whole file is known to be good."""
    digest = hashlib.sha256(encoded).hexdigest()
    stored_name = f"products/{digest[:2]}/{digest}.jpg"
    target = Path(settings.MEDIA_ROOT) / stored_name
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write-then-rename so a concurrent reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
        with os.fdopen(fd, "wb") as handle:
            handle.write(encoded)
        os.replace(tmp, target)
    return StoredImage(stored_name, digest, width, height)
