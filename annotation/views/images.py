"""Product images and queries' reference images, served only to members of their project."""

from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.views.decorators.http import require_safe

from .. import selectors

# Stored images are re-encoded by the importer, so the extension the server chose is
# trustworthy; anything else on disk is not served at all.
IMAGE_CONTENT_TYPES = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


@require_safe
@login_required
def product_image(request, image_id: int):
    return _stored_image_response(selectors.product_image_for_user(request.user, image_id).stored_name)


@require_safe
@login_required
def query_image(request, image_id: int):
    return _stored_image_response(selectors.query_image_for_user(request.user, image_id).stored_name)


def _stored_image_response(stored_name: str) -> FileResponse:
    root = Path(settings.MEDIA_ROOT).resolve()
    try:
        # resolve() follows symlinks too, so a link pointing out of MEDIA_ROOT is refused.
        path = (root / stored_name).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise Http404("image file not found")
        content_type = IMAGE_CONTENT_TYPES.get(path.suffix.lower().removeprefix("."))
        if content_type is None:
            raise Http404("not a servable image type")
        handle = path.open("rb")
    except (OSError, ValueError):
        raise Http404("image file not found") from None
    response = FileResponse(handle, content_type=content_type)
    response["Content-Disposition"] = "inline"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=3600"
    return response
