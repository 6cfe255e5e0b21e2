"""Errors of personal data exports, each with a stable code."""

from __future__ import annotations

from app.errors import AppError, Conflict, NotFound


class ExportNotFound(NotFound):
    code = "export_not_found"
    title = "Export not found"


class ExportInProgress(Conflict):
    code = "export_in_progress"
    title = "An export of this account is already being prepared"


class ExportNotReady(Conflict):
    code = "export_not_ready"
    title = "The export's archive is not ready"


class ExportExpired(AppError):
    status = 410
    code = "export_expired"
    title = "The export's archive has expired"


__all__ = ["ExportExpired", "ExportInProgress", "ExportNotFound", "ExportNotReady"]
