"""Providers of the cameo domain's services for its routes."""

from __future__ import annotations

from litestar.di import NamedDependency

from app.dependencies import DbSession, MediaDeletionsDep, SettingsDep, SigningKeysDep, StorageDep
from cameo.service.controls import ControlsService
from cameo.service.ledger import LedgerService
from cameo.service.lifecycle import LifecycleService
from cameo.service.recording import RecordingService

Lifecycle = NamedDependency[LifecycleService]
Recordings = NamedDependency[RecordingService]
Controls = NamedDependency[ControlsService]
Ledger = NamedDependency[LedgerService]


def provide_lifecycle_service(db_session: DbSession, settings: SettingsDep) -> LifecycleService:
    return LifecycleService(db_session, settings)


def provide_recording_service(
    db_session: DbSession, storage: StorageDep, media_deletions: MediaDeletionsDep
) -> RecordingService:
    return RecordingService(db_session, storage, media_deletions)


def provide_controls_service(db_session: DbSession, settings: SettingsDep) -> ControlsService:
    return ControlsService(db_session, settings)


def provide_ledger_service(db_session: DbSession, signing_keys: SigningKeysDep) -> LedgerService:
    return LedgerService(db_session, signing_keys)
