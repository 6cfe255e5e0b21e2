"""Opening uploaded images safely: an allow-list of formats checked by content, a byte limit and a
pixel limit enforced before any decoding (decompression bombs), and truncated or corrupt files
refused. Used for avatars and for generation reference images."""

from __future__ import annotations

import io
import struct
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from app.errors import AppError, ValidationFailed

MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_IMAGE_PIXELS = 40_000_000
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP")

# Pillow warns above this many pixels and refuses above twice it; both become image_too_large.
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS


class UnsupportedMedia(AppError):
    status = 415
    code = "unsupported_media"
    title = "Unsupported media type"


class ImageTooLarge(AppError):
    status = 413
    code = "image_too_large"
    title = "The image is too large"


class InvalidImage(ValidationFailed):
    code = "invalid_image"
    title = "The image could not be read"


def open_upload(
    data: bytes, *, max_bytes: int = MAX_IMAGE_BYTES, max_pixels: int = MAX_IMAGE_PIXELS
) -> Image.Image:
    """The decoded, upright image, or the 413/415/422 that describes what is wrong with it.
    Blocking: call it in a worker thread."""
    if len(data) > max_bytes:
        raise ImageTooLarge(f"Images may be at most {max_bytes // (1024 * 1024)} MB")
    too_many_pixels = ImageTooLarge(f"Images may be at most {max_pixels // 1_000_000} megapixels")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS))
        except UnidentifiedImageError as exc:
            raise UnsupportedMedia("Upload a JPEG, PNG or WebP image") from exc
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise too_many_pixels from exc
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            # Truncated headers, text chunks that inflate past Pillow's limit, and the like.
            raise InvalidImage("The image is truncated or corrupt") from exc
        width, height = image.size
        if width * height > max_pixels:
            raise too_many_pixels
        if width < 1 or height < 1:
            raise InvalidImage()
        try:
            image.load()
            return ImageOps.exif_transpose(image)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning) as exc:
            raise InvalidImage("The image is truncated or corrupt") from exc
        except (TypeError, struct.error) as exc:
            # Straightening a rotated image writes its EXIF back, which fails for a tag holding a
            # value of another type than Pillow knows it by (text in a rational or integer tag).
            raise InvalidImage("The image's EXIF metadata is corrupt") from exc
