"""Settings, read once from the environment (prefix ``CLARION_``) and passed in."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The URL schemes of ``CLARION_DATABASE_URL``: SQLite through aiosqlite, PostgreSQL through
#: psycopg 3 (the plain forms are given the async driver).
DATABASE_SCHEMES = frozenset(
    {"sqlite", "sqlite+aiosqlite", "postgresql", "postgres", "postgresql+psycopg"}
)


def _default_database_url() -> str:
    return f"sqlite+aiosqlite:///{Path.cwd() / 'clarion.db'}"


class Settings(BaseSettings):
    """Every knob Clarion has. Nothing else reads the environment."""

    model_config = SettingsConfigDict(env_prefix="CLARION_", extra="ignore")

    database_url: str = Field(default_factory=_default_database_url)
    base_url: str = "http://127.0.0.1:8080"
    redis_url: str | None = None
    dashboard_url: str = ""
    organisation_name: str = "Clarion"

    # API conventions
    max_body_bytes: int = 1_048_576
    rate_limit_capacity: int = 1200
    rate_limit_refill_per_second: float = 20.0
    retrospective_rate_limit_capacity: int = 300
    retrospective_rate_limit_refill_per_second: float = 5.0
    idempotency_retention_hours: int = 72
    #: Serialised incident list pages kept per page content version (0 turns the cache off)...
    api_list_cache_entries: int = 256
    #: ...holding at most this many MiB in each process.
    api_list_cache_mb: int = Field(default=16, ge=0)
    #: PostgreSQL: connections each process keeps open (more are opened, up to half as many
    #: again, and closed after use when many requests wait on the database at once).
    db_pool_size: int = 32
    #: PostgreSQL: the longest any one statement may run (``statement_timeout``).
    db_statement_timeout_seconds: float = Field(default=30.0, gt=0)
    #: How long a statement waits for a lock another session holds before it fails: PostgreSQL's
    #: ``lock_timeout``; on SQLite, how long a writer waits for the write lock (another
    #: process's, or a frozen one's) and a reader for a busy database.
    db_lock_timeout_seconds: float = Field(default=10.0, gt=0)
    #: PostgreSQL: how long opening a connection may take.
    db_connect_timeout_seconds: int = Field(default=5, ge=1)

    # background work
    run_worker_in_serve: bool = True
    worker_poll_seconds: float = 1.0

    # notifications
    smtp_url: str | None = None
    smtp_from: str = "Clarion <status@localhost>"
    smtp_ca_file: str | None = None  # PEM bundle trusted for SMTP TLS instead of the system's
    webhook_allow_private: bool = False
    webhook_timeout_seconds: float = 10.0
    secret_key: str = ""
    maintenance_reminder_minutes: int = 60
    smtp_pool_size: int = 4
    smtp_timeout_seconds: float = 30.0
    outbox_batch_size: int = 200
    outbox_concurrency: int = 32
    #: Deliveries in flight to one webhook host at once.
    outbox_webhook_host_concurrency: int = Field(default=4, ge=1)
    #: A claim's lease; a live worker renews it every third of this (heartbeats), so it bounds
    #: how long the rows of a crashed worker wait.
    outbox_lease_seconds: float = Field(default=30.0, gt=0)
    outbox_max_attempts: int = 8
    outbox_retry_base_seconds: float = 30.0
    #: A message that keeps failing temporarily is given up (``dead``) once it is this old.
    outbox_max_age_hours: float = Field(default=48.0, gt=0)
    subscription_failure_limit: int = 10
    subscribe_confirmations_per_day: int = 3
    #: The anonymous subscribe form's budgets (0 turns one off): addresses per form token,
    #: requests per client address (IPv6: per /64) an hour, requests an hour in all, and
    #: confirmation e-mails per mailbox a day.
    subscribe_addresses_per_form: int = Field(default=3, ge=0)
    subscribe_per_client_per_hour: int = Field(default=20, ge=0)
    subscribe_per_hour: int = Field(default=1000, ge=0)
    subscribe_per_mailbox_per_day: int = Field(default=5, ge=0)
    #: Work asked of the subscribe form's browser before it may post (leading zero bits of a
    #: SHA-256; 0: none, and the form needs no JavaScript).
    subscribe_proof_of_work_bits: int = Field(default=0, ge=0, le=32)
    #: Accept addresses under the reserved ``.test`` domain (test installations).
    subscribe_allow_test_domains: bool = False
    #: The SMTP relay accepts internationalised addresses (SMTPUTF8): subscribers may use
    #: non-ASCII characters before the @.
    smtp_utf8: bool = False

    # public site (render cache and HTTP caching headers)
    public_max_age_seconds: int = 10
    public_stale_seconds: int = 60
    #: Rendered responses each process keeps...
    public_cache_entries: int = 2048
    #: ...holding at most this many MiB (and a quarter of it again for the last good render of
    #: each page and path, served while the database is unavailable).
    public_cache_mb: int = Field(default=64, ge=1)
    public_version_ttl_seconds: float = 1.0
    #: Who may frame the public pages: the CSP ``frame-ancestors`` source list (``'none'``:
    #: nobody; ``'self' https://intranet.example.com`` to embed the page there).
    public_frame_ancestors: str = "'none'"
    #: How long a public request waits for the database before it is answered from the last
    #: render of what it asks for (while the database stays unavailable, later requests are
    #: answered from that render at once).
    public_read_deadline_seconds: float = Field(default=2.0, gt=0)

    # health
    #: How long ``/readyz`` waits for each of its database checks.
    ready_deadline_seconds: float = Field(default=2.0, gt=0)
    #: A worker whose last heartbeat is older than this is taken for stuck or gone (``/readyz``).
    worker_heartbeat_max_age_seconds: float = Field(default=60.0, gt=0)

    # console (BASE_URL/admin)
    #: A console session ends after this long without a request...
    console_session_idle_minutes: int = Field(default=120, ge=1)
    #: ...and this long after sign-in, however busy.
    console_session_max_hours: int = Field(default=12, ge=1)
    #: Sign-in attempts for one e-mail address: this many at once, then one more every
    #: ``console_signin_account_refill_seconds``.
    console_signin_account_attempts: int = Field(default=5, ge=1)
    console_signin_account_refill_seconds: float = Field(default=60.0, gt=0)
    #: Sign-in attempts from one client address (any e-mail): as above.
    console_signin_address_attempts: int = Field(default=20, ge=1)
    console_signin_address_refill_seconds: float = Field(default=15.0, gt=0)

    log_level: str = "info"
    #: Proxies whose ``X-Forwarded-For`` / ``X-Forwarded-Proto`` are believed: addresses and
    #: networks, comma-separated, or ``*`` for any.
    forwarded_allow_ips: str = "127.0.0.1"
    #: How long a keep-alive connection may stay idle, and a client take to send a request's
    #: headers, before the server closes the connection.
    keep_alive_seconds: int = Field(default=30, ge=1)

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, url: str) -> str:
        """Accept plain ``sqlite://`` / ``postgresql://`` URLs and pick the async driver; refuse
        any other database (see ``DATABASE_SCHEMES``) before a driver is ever imported."""
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        if scheme not in DATABASE_SCHEMES:
            named = scheme.split("+", 1)[0] or url
            raise ValueError(
                f"unsupported database {named!r}; use sqlite:///path or postgresql://…"
            )
        if url.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
        if url.startswith(("postgresql://", "postgres://")):
            return "postgresql+psycopg://" + url.split("://", 1)[1]
        return url

    @field_validator("public_frame_ancestors")
    @classmethod
    def _source_list(cls, value: str) -> str:
        from clarion.http.security import frame_ancestors_problem

        problem = frame_ancestors_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, url: str) -> str:
        return url.rstrip("/")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
