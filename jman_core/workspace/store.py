"""The workspace store: one SQLAlchemy engine per database
URL, schema kept at Alembic's head, clear errors."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import JmanError

DATABASE_VARIABLE = "JMAN_DATABASE_URL"
DEFAULT_DATABASE = Path(__file__).resolve().parents[2] / "runs" / "workspace.sqlite"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_MILLISECONDS = 5000
CONNECT_TIMEOUT_SECONDS = 5


class WorkspaceError(JmanError):
    """The workspace database cannot be opened, read or written; the message says why and what to do."""


def database_url(url: str | None = None) -> str:
    """`url`, else $JMAN_DATABASE_URL, else an SQLite file under runs/ at the repository root."""
    chosen = (url or os.environ.get(DATABASE_VARIABLE, "")).strip()
    return chosen or f"sqlite:///{DEFAULT_DATABASE}"


def shown_url(url: str) -> str:
    """The URL as messages show it: the password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(an invalid database URL)"


def explain_database_error(error: BaseException, url: str) -> WorkspaceError:
    """One clear line for what went wrong with the database at `url`, with what to do about it."""
    text = str(getattr(error, "orig", None) or error).lower()
    where = shown_url(url)
    if "locked" in text or "busy" in text:
        return WorkspaceError(
            f"The workspace database {where} is locked by another program; this click was not saved "
            "(earlier decisions are safe). Try again in a moment, or close the other program."
        )
    if "readonly" in text or "read-only" in text:
        return WorkspaceError(
            f"The workspace database {where} is read-only: new decisions cannot be saved (earlier ones "
            f"are intact). Make the file and its folder writable, or set {DATABASE_VARIABLE}."
        )
    if "disk is full" in text or "no space" in text or "disk full" in text:
        return WorkspaceError(
            f"The disk holding the workspace database {where} is full: this click was not saved "
            "(earlier decisions are safe). Free some space and click again."
        )
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return WorkspaceError(
            f"{where} is not a workspace database, or it is corrupt; it was left untouched. Move it "
            f"away or set {DATABASE_VARIABLE} to another file."
        )
    if "connect" in text or "connection" in text or "resolve" in text or "timeout" in text:
        return WorkspaceError(
            f"Cannot reach the workspace database {where}: {_first_line(error)}. Check that the "
            f"server is running and the URL in {DATABASE_VARIABLE} is right."
        )
    return WorkspaceError(f"The workspace database {where} failed: {_first_line(error)}")


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:300]


def _make_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise WorkspaceError(
            f"{url!r} is not a database URL. Use sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/NAME."
        ) from None
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        try:
            return create_engine(
                parsed, pool_pre_ping=True, connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS}
            )
        except (NoSuchModuleError, ImportError) as error:
            raise WorkspaceError(
                f"PostgreSQL needs the psycopg package: pip install 'psycopg[binary]' ({error})."
            ) from None
    raise WorkspaceError(f"The workspace supports SQLite and PostgreSQL, not {parsed.get_backend_name()!r}.")


def _sqlite_engine(parsed) -> Engine:
    database = parsed.database or ""
    # "file:PATH?mode=ro&uri=true" names the file in SQLite's URI form: its folder is the path's own
    if database.startswith("file:") and parsed.query.get("uri") == "true":
        database = database.removeprefix("file:")
    if database and database != ":memory:":
        path = Path(database).expanduser()
        if path.is_dir():
            raise WorkspaceError(f"{path} is a folder; the workspace database must be a file path.")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise WorkspaceError(
                f"Cannot create the folder for the workspace database {path}: {error.strerror}."
            ) from None
    engine = create_engine(
        parsed, connect_args={"timeout": BUSY_TIMEOUT_MILLISECONDS / 1000, "check_same_thread": False}
    )
    event.listen(engine, "connect", _sqlite_settings)
    return engine


def _sqlite_settings(connection, _record) -> None:
    """WAL lets readers go on while one writes; FULL sync makes every committed click survive a power cut."""
    cursor = connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MILLISECONDS}")
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        except Exception:  # noqa: BLE001 - a read-only file keeps its journal mode; reading still works
            pass
        cursor.execute("PRAGMA synchronous=FULL")
    finally:
        cursor.close()


def _alembic_config():
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def schema_revisions() -> tuple[str, list[str]]:
    """(head revision, every revision this version of the package knows)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config())
    return script.get_current_head(), [revision.revision for revision in script.walk_revisions()]


def current_revision(engine: Engine) -> str | None:
    from alembic.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, url: str, target: str = "head") -> None:
    """Creates or upgrades the schema to `target`; refuses a newer schema and a foreign database."""
    from alembic import command

    head, known = schema_revisions()
    current = current_revision(engine)
    if current is not None and current not in known:
        raise WorkspaceError(
            f"The workspace database {shown_url(url)} has schema revision {current}, newer than this "
            f"version of jman knows (up to {head}). Upgrade jman, or use another database."
        )
    if current is None and _has_foreign_tables(engine):
        raise WorkspaceError(
            f"{shown_url(url)} holds tables that are not a jman workspace; it was left untouched. "
            f"Set {DATABASE_VARIABLE} to a new file or an empty database."
        )
    if current == target or (target == "head" and current == head):
        return
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, target)


def _has_foreign_tables(engine: Engine) -> bool:
    return any(name != "alembic_version" for name in inspect(engine).get_table_names())


class Store:
    """The engine and the session factory of one workspace database, with errors turned into messages."""

    def __init__(self, url: str):
        self.url = url
        self.engine = _make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        try:
            upgrade(self.engine, url)
        except WorkspaceError:
            self.engine.dispose()
            raise
        except (SQLAlchemyError, OSError) as error:
            self.engine.dispose()
            raise explain_database_error(error, url) from None

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back (nothing half-written) when it fails."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except (DBAPIError, SQLAlchemyError, OSError) as error:
            session.rollback()
            raise explain_database_error(error, self.url) from None
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def close(self) -> None:
        self.engine.dispose()


_STORES: dict[str, Store] = {}
_STORES_LOCK = threading.Lock()


def open_store(url: str | None = None) -> Store:
    """The process's one Store for `url` (or the default database), created and migrated on first use."""
    resolved = database_url(url)
    with _STORES_LOCK:
        store = _STORES.get(resolved)
        if store is None:
            store = Store(resolved)
            _STORES[resolved] = store
        return store


def forget_stores() -> None:
    """Closes every open Store (tests, and a process that changes its database)."""
    with _STORES_LOCK:
        for store in _STORES.values():
            store.close()
        _STORES.clear()
