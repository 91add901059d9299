"""Pieces both benchmarks use (bench/run and bench/admin-search): a throwaway PostgreSQL,
the lock that keeps two benchmarks from sharing one machine's cores, the SQL that fills
the users table without the API, and the sign-in of an administrator with two-factor."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "var" / "bench.lock"

PASSWORD = "correct horse battery staple"  # a benchmark fixture, not a secret
# Not a real hash: no one signs in as a generated user, and hashing 100,000 passwords
# would take longer than the whole benchmark. (Accounts that sign in are made through the
# API, which hashes their password for real.)
FAKE_HASH = "$argon2id$v=19$m=19456,t=2,p=1$YmVuY2hmaXh0dXJl$bm90LWEtcmVhbC1oYXNo"


# Common-ish names, most frequent first: the fill draws from the front more often, so
# short prefixes ("ma", "jo") match thousands and a first name plus a few letters of a
# last name matches a handful, as in a real user base.
FIRST_NAMES = """
james mary john patricia robert jennifer michael linda william elizabeth david barbara
richard susan joseph jessica thomas sarah charles karen christopher lisa daniel nancy
matthew betty anthony margaret mark sandra donald ashley steven kimberly paul emily andrew
donna joshua michelle kenneth carol kevin amanda brian dorothy george melissa timothy
deborah ronald stephanie edward rebecca jason sharon jeffrey laura ryan cynthia jacob
kathleen gary amy nicholas angela eric shirley jonathan anna stephen brenda larry pamela
justin emma scott nicole brandon helen benjamin samantha samuel katherine gregory christine
alexander debra frank rachel patrick carolyn raymond janet jack catherine dennis maria
jerry heather tyler diane aaron ruth jose julie adam olivia nathan joyce henry virginia
zachary victoria douglas kelly peter lauren kyle christina noah joan ethan evelyn jeremy
judith walter megan christian andrea keith cheryl roger hannah terry jacqueline austin
martha sean gloria gerald teresa carl ann harold sara dylan madison arthur frances
lawrence kathryn jordan janice jesse jean bryan abigail billy alice bruce judy gabriel
sophia joe grace logan denise albert amber willard doris mateo lucia yuki amara sven
ingrid oluwaseun priya wei chen fatima omar leila ivan olga giulia luca aoife niamh
""".split()  # noqa: SIM905 (prose reads better than 200 quoted words)
LAST_NAMES = """
smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez
lopez gonzalez wilson anderson thomas taylor moore jackson martin lee perez thompson
white harris sanchez clark ramirez lewis robinson walker young allen king wright scott
torres nguyen hill flores green adams nelson baker hall rivera campbell mitchell carter
roberts gomez phillips evans turner diaz parker cruz edwards collins reyes stewart
morris morales murphy cook rogers gutierrez ortiz morgan cooper peterson bailey reed
kelly howard ramos kim cox ward richardson watson brooks chavez wood james bennett gray
mendoza ruiz hughes price alvarez castillo sanders patel myers long ross foster jimenez
powell jenkins perry russell sullivan bell coleman butler henderson barnes gonzales
fisher vasquez simmons romero jordan patterson alexander hamilton graham reynolds griffin
wallace moreno west cole hayes bryant herrera gibson ellis tran medina aguilar stevens
murray ford castro marshall owens harrison fernandez mcdonald woods washington kennedy
wells vargas henry chen freeman webb tucker guzman burns crawford olson simpson porter
hunter gordon mendez silva shaw snyder mason dixon munoz hunt hicks holmes palmer wagner
black robertson boyd rose stone salazar fox warren mills meyer rice schmidt garza daniels
ferguson nichols stephens soto weaver ryan gardner payne grant dunn kowalski novak
okafor haddad nakamura rossi muller dubois jansen lindqvist oconnor byrne
""".split()  # noqa: SIM905
DOMAINS = """
gmail.com outlook.com yahoo.com icloud.com proton.me hotmail.com example.org
fastmail.com gmx.de web.de orange.fr mail.ru qq.com yandex.ru acme.io globex.com
""".split()  # noqa: SIM905


def sql_array(words: list[str]) -> str:
    # Constants of this file (plain ASCII words), never user input.
    assert all(re.fullmatch(r"[A-Za-z0-9 ./;:(),_-]+", w) for w in words)
    return "ARRAY[" + ",".join(f"'{w}'" for w in words) + "]::text[]"


USERS_SQL = f"""
INSERT INTO users (id, username, username_key, email, email_key, full_name, hashed_password,
                   is_active, is_verified, is_superuser, created_at, updated_at,
                   password_changed_at, last_login_at)
SELECT gen_random_uuid(), username, lower(username), email, lower(email),
       initcap(f) || ' ' || initcap(l), :hash,
       r_active >= 0.03, r_verified >= 0.20, r_admin < 0.001,
       created, created, created,
       CASE WHEN r_login < 0.85 THEN created + (now() - created) * r_login2 END
FROM (
    SELECT *,
        CASE
            WHEN r_style < 0.35 THEN f || '.' || l || g
            WHEN r_style < 0.55 THEN initcap(f) || '_' || initcap(l) || g
            WHEN r_style < 0.75 THEN left(f, 1) || l || g
            WHEN r_style < 0.90 THEN l || f || g
            ELSE initcap(f) || g
        END AS username,
        CASE
            WHEN r_email < 0.03 THEN NULL
            WHEN r_email < 0.50 THEN f || '.' || l || g || '@' || d
            WHEN r_email < 0.75 THEN l || '.' || f || g || '@' || d
            ELSE left(f, 1) || l || g || '@' || d
        END AS email,
        -- More sign-ups lately than three years ago.
        now() - interval '1095 days' * (r_created ^ 2) AS created
    FROM (
        SELECT g,
            ({sql_array(FIRST_NAMES)})[1 + floor({len(FIRST_NAMES)} * random() ^ 2)::int] AS f,
            ({sql_array(LAST_NAMES)})[1 + floor({len(LAST_NAMES)} * random() ^ 2)::int] AS l,
            ({sql_array(DOMAINS)})[1 + floor({len(DOMAINS)} * random() ^ 3)::int] AS d,
            random() AS r_style, random() AS r_email, random() AS r_created,
            random() AS r_active, random() AS r_verified, random() AS r_admin,
            random() AS r_login, random() AS r_login2
        FROM generate_series(1, :users) AS g
    ) AS drawn
) AS named
ORDER BY created
ON CONFLICT DO NOTHING
"""  # noqa: S608

# A few percent of accounts have an authenticator app, most of them confirmed.
TOTP_SQL = """
INSERT INTO totp_credentials (user_id, sealed_secret, created_at, confirmed_at)
SELECT id, decode(md5(id::text), 'hex'), created_at,
       CASE WHEN random() < 0.85 THEN created_at + interval '1 hour' END
FROM users WHERE random() < 0.03
"""

# A first name plus three letters of a last name ("mary.joh"), taken a tenth of the way
# into the accounts by age: a search term that matches a handful of rows.
SELECTIVE_PREFIX_SQL = r"""
SELECT substring(username_key FROM '^([a-z]+\.[a-z]{3})') AS q FROM users
WHERE username_key ~ '^[a-z]+\.[a-z]{3}' ORDER BY created_at, id
OFFSET :off LIMIT 1
"""


async def insert_users(conn: Any, *, users: int) -> int:
    """Fill the users table (and a few percent of authenticator apps) with SQL alone, on
    an open SQLAlchemy async connection in a transaction; returns the count of users.
    Call ``SELECT setseed(...)`` on the same connection first for a repeatable fill."""
    from sqlalchemy import text

    await conn.execute(text(USERS_SQL), {"users": users, "hash": FAKE_HASH})
    await conn.execute(text(TOTP_SQL))
    return int((await conn.execute(text("SELECT count(*) FROM users"))).scalar_one())


# --------------------------------------------------------------------------- admin


async def echo_csrf_cookie(request: Any) -> None:
    """An httpx request hook doing what the web app's fetch wrapper does: copy the CSRF
    cookie into the header on unsafe requests."""
    from authflow.auth.cookies import CSRF_COOKIE, CSRF_HEADER

    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    for part in request.headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == CSRF_COOKIE:
            request.headers[CSRF_HEADER] = value


async def enrol_admin(client: Any, engine: Any, *, username: str, email: str) -> None:
    """Sign up through the API, become an admin (SQL), enrol two-factor through the API
    with a pyotp code, and check the admin listing answers: what
    backend/tests/admin/test_router.py::admin_client does. ``client`` is an
    ``httpx.AsyncClient`` with a cookie jar (its base URL https, so the API's Secure
    cookies come back) and ``echo_csrf_cookie`` among its request hooks; ``engine`` an
    SQLAlchemy async engine on the same database. The session the client ends up with
    counts as a fresh sign-in for the step-up window."""
    import pyotp
    from sqlalchemy import text

    r = await client.post(
        "/api/auth/signup", json={"username": username, "email": email, "password": PASSWORD}
    )
    if r.status_code != 201:
        raise RuntimeError(f"POST /api/auth/signup: {r.status_code} {r.text}")
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE users SET is_superuser = true WHERE username = :u"), {"u": username}
        )
    r = await client.post("/api/auth/2fa/enrol")
    if r.status_code != 200:
        raise RuntimeError(f"POST /api/auth/2fa/enrol: {r.status_code} {r.text}")
    code = pyotp.TOTP(r.json()["secret"]).now()
    r = await client.post("/api/auth/2fa/enrol/confirm", json={"code": code})
    if r.status_code != 200:
        raise RuntimeError(f"POST /api/auth/2fa/enrol/confirm: {r.status_code} {r.text}")
    r = await client.get("/api/admin/users", params={"limit": 1})
    if r.status_code != 200:
        raise RuntimeError(f"GET /api/admin/users as the admin: {r.status_code} {r.text}")


# --------------------------------------------------------------------------- PostgreSQL


class Postgres:
    """A cluster under ``pgdata``, stopped and removed after; its log is kept as
    ``log_copy`` (the results folder is git-ignored for *.raw)."""

    def __init__(
        self, devdb: Any, pgdata: Path, log_copy: Path, log: Callable[[str], None]
    ) -> None:
        self.devdb = devdb
        self.pgdata = pgdata
        self.log_copy = log_copy
        self.log = log
        self.port = 0
        self.pid: int | None = None

    def start(self) -> str:
        self.discard()  # a leftover from a run that was killed -9
        self.port = self.devdb.free_port()
        # Durable settings (fsync on): the measured requests commit.
        self.devdb.init_cluster(self.pgdata, fast_unsafe=False)
        self.devdb.start(self.pgdata, self.port)
        self.pid = int((self.pgdata / "postmaster.pid").read_text().split()[0])
        return str(self.devdb.url(self.port))

    def discard(self) -> None:
        pidfile = self.pgdata / "postmaster.pid"
        if pidfile.exists():
            pid = int(pidfile.read_text().split()[0])
            with contextlib.suppress(Exception):
                self.devdb.stop(self.pgdata)
            _kill_if_alive(pid)
        if self.pgdata.exists():
            server_log = self.pgdata / "server.log"
            if server_log.exists():
                self.log_copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(server_log, self.log_copy)
            shutil.rmtree(self.pgdata)

    def stop(self) -> None:
        if self.pid is not None:
            self.log(f"stopping PostgreSQL (pid {self.pid})")
        self.discard()
        self.pid = None


def _kill_if_alive(pid: int) -> None:
    # pg_ctl stop normally suffices; if not, fast shutdown then quit, by PID.
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGKILL):
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


@contextlib.contextmanager
def single_run_lock(name: str) -> Iterator[None]:
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with LOCK.open("w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SystemExit(
                f"{name}: another benchmark (bench/run or bench/admin-search) is running "
                "in this checkout"
            ) from None
        yield
