"""What one launch of the app holds: its token, bound address, settings and the open library."""

from __future__ import annotations

import os
import secrets
import threading
from typing import Any

from stash_dedupe.appdata import AppPaths
from stash_dedupe.dedupe.dismissals import DismissalStore
from stash_dedupe.dedupe.session import LibrarySession
from stash_dedupe.errors import AppError
from stash_dedupe.jobs import Job, JobRegistry
from stash_dedupe.removal.journal import Journal
from stash_dedupe.removal.recovery import reconcile
from stash_dedupe.settings import Settings, load_settings, save_settings
from stash_dedupe.web.gate import host_names_server


class AppState:
    """One launch of the app: its token, bound address, settings and the open library."""

    def __init__(
        self,
        settings: Settings | None = None,
        journal: Journal | None = None,
        dismissals: DismissalStore | None = None,
        token: str | None = None,
        remember: bool = True,
        paths: AppPaths | None = None,
    ) -> None:
        """`remember=False` keeps settings changes in memory only (self-test, tests); `paths`
        is where the app's files are (default: the app's data folder, resolved now, once)."""
        self.paths = paths or AppPaths.for_this_run()
        self.remember = remember
        self.token = token or secrets.token_urlsafe(32)
        self.settings = settings if settings is not None else load_settings()
        self.journal = journal or Journal.open(self.paths.journal)
        self.dismissals = dismissals or DismissalStore(self.paths.dismissals)
        self.jobs = JobRegistry()
        self.session: LibrarySession | None = None
        self.presence_job: Job | None = None  # the missing-files check of the open library
        self.open_error: str | None = None
        self.reconciled = reconcile(self.journal)  # settle what a crash left half done
        self._host, self._port = "127.0.0.1", 0
        self._lock = threading.RLock()

    # -- security --

    def bind(self, host: str, port: int) -> None:
        """Remember the address the server listens on; the Host check compares against it."""
        self._host, self._port = host, port

    def host_allowed(self, header: str) -> bool:
        """Whether a request's Host header names this server (refuses DNS rebinding)."""
        return host_names_server(header, self._host, self._port)

    # -- the library --

    def require_session(self) -> LibrarySession:
        session = self.session
        if session is None:
            raise AppError("No Stash database is open yet: choose one first.")
        return session

    def open_database(self, path: str, settings: Settings | None = None) -> LibrarySession:
        """Open a database and make it the current one, with `settings` (default: current),
        which then become the settings, remembering the database. Nothing changes if the
        database cannot be opened."""
        path = os.path.abspath(os.path.expanduser(path.strip()))
        with self._lock:
            settings = settings or self.settings
            session = LibrarySession.open(path, settings, self.journal, self.dismissals, self.paths)
            # The old session is left to the garbage collector: a request may still use it.
            self.session, self.open_error = session, None
            self.presence_job = self.jobs.start(
                Job("presence", lambda job: session.check_presence(job.report))
            )
            self.settings = settings.updated({"database": path})
            self._save_settings()
            return session

    def try_open(self, path: str | None) -> None:
        """Open at launch; a failure is kept to show on the welcome screen, not raised."""
        if not path:
            return
        try:
            self.open_database(path)
        except AppError as error:
            self.open_error = error.message

    def _save_settings(self) -> None:
        if self.remember:
            save_settings(self.settings)

    def update_settings(self, changes: dict[str, Any]) -> Settings:
        """Check and apply changed settings; a new database or new path mappings reopen it."""
        with self._lock:
            updated = self.settings.updated(changes)
            new_database = bool(updated.database) and updated.database != self.settings.database
            new_mappings = updated.path_mappings != self.settings.path_mappings
            if new_database or (new_mappings and self.session is not None):
                self.open_database(updated.database or self.require_session().path, updated)
                return self.settings
            if self.session is not None:
                self.session.configure(updated)
            self.settings = updated
            self._save_settings()
            return self.settings
