"""Cameo failures with stable codes."""

from app.errors import Forbidden, NotFound


class CameoNotFound(NotFound):
    code = "cameo_not_found"
    title = "No such cameo"


class CameoPermissionDenied(Forbidden):
    code = "cameo_permission_denied"
    title = "You may not use that cameo"
