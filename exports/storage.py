"""The exports storage: storages["exports"] (a private folder, or S3), where export files,
import files, bulk-run lists and data-subject packages are kept."""

from __future__ import annotations

from typing import Any

from django.core.files.storage import Storage, storages
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.functional import LazyObject, empty


class _ExportsStorage(LazyObject):
    """storages["exports"], looked up when first used (and again when STORAGES changes)."""

    def _setup(self) -> None:
        self._wrapped = storages["exports"]


_exports_storage = _ExportsStorage()


@receiver(setting_changed)
def _storages_changed(setting: str, **kwargs: Any) -> None:
    if setting == "STORAGES":
        _exports_storage._wrapped = empty  # type: ignore[assignment]


def exports_storage() -> Storage:
    return _exports_storage  # type: ignore[return-value]
