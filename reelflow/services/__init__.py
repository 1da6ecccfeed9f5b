"""reelflow as a library, for apps: the few calls an app makes, and the settings.

asset_urls(keys)           input -> URL for a page of s3:// keys (presigned, cached) or
                           temporary http(s) URLs (passed through)
invalidate(keys)           drop cached URLs of replaced or deleted objects
delete_movie(id, launcher) delete a movie's rows and purge its objects (PurgeLauncher)
get_settings(), Settings   the one settings class (environment / .env)
reset()                    forget settings, close clients and caches (tests, reconfiguring)
"""

from __future__ import annotations

from reelflow.services.movies import DeleteResult, PurgeLauncher, delete_movie
from reelflow.services.state import reset
from reelflow.services.urls import asset_urls, invalidate
from reelflow.settings import Settings, get_settings

__all__ = [
    "DeleteResult",
    "PurgeLauncher",
    "Settings",
    "asset_urls",
    "delete_movie",
    "get_settings",
    "invalidate",
    "reset",
]
