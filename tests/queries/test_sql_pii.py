"""/t2/sql and PII: renamed columns, column lists, whole rows — attacked on both walls.

Wall 1 (the check) decides on lineage: every reference is resolved to its real table
column and refused when it reaches one the model marks as PII. Wall 2 (the sandbox) gives
a role without ``pii`` views in which the PII columns do not exist at all, so the same
attacks run straight on the sandbox (past the parser) return no e-mail either. Each
attack is tried as ``ana`` (analyst) on the page's callback, the page's POST download and
``GET /api/v1/sql/export.csv``; ``ada`` (admin) still reads e-mails.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import pytest
from plotly.utils import PlotlyJSONEncoder

from app.core.errors import AccessDenied, QueryError, StarboardError
from queries import export
from queries import sql as sql_q
from tests.conftest import add_users, find, find_all, make_app, render, signed_in, texts
from tests.fixtures.t2 import acting, page_module

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
EXPORT_URL = "/api/v1/sql/export.csv"
RENAMED = "SELECT e FROM dim_user AS t(k, uid, sd, c, r, d, ch, seg, age, e) LIMIT 3"

# (statement, what the refusal names)
ATTACKS = [
    (RENAMED, "dim_user.email"),
    ("SELECT max(e) FROM dim_user t(a, b, c, d, r, f, g, h, i, e)", "dim_user.email"),
    (
        "SELECT a FROM dim_user t(a, b, c, d, r, f, g, h, i, e) WHERE e LIKE 'user1%'",
        "dim_user.email",
    ),
    (
        "SELECT count(*) FROM dim_user t(a, b, c, d, r, f, g, h, i, e, z) WHERE e > 'u'",
        "dim_user.email",
    ),
    ("WITH x(a, b) AS (SELECT email, user_key FROM dim_user) SELECT a FROM x", "dim_user.email"),
    (
        "WITH x(k, e) AS (SELECT user_key, email FROM dim_user) SELECT y.e FROM x y",
        "dim_user.email",
    ),
    ("SELECT e FROM (SELECT email FROM dim_user) AS x(e)", "dim_user.email"),
    ("SELECT x.e FROM (SELECT user_key, email FROM dim_user) x(k, e)", "dim_user.email"),
    ("SELECT email FROM (SELECT * FROM dim_user)", "dim_user.email"),
    ("SELECT x.email FROM (SELECT * FROM dim_user) x", "dim_user.email"),
    ("SELECT email FROM dim_user", "dim_user.email"),
    ('SELECT "EMAIL" FROM dim_user', "dim_user.email"),
    ("SELECT lower(u.email) FROM dim_user u", "dim_user.email"),
    ("SELECT user_key FROM dim_user ORDER BY email", "dim_user.email"),
    ("SELECT user_key FROM dim_user WHERE email LIKE 'user1%'", "dim_user.email"),
    ("SELECT country, count(*) FROM dim_user GROUP BY email, country", "dim_user.email"),
    (
        "SELECT f.revenue FROM fct_interaction f JOIN dim_user u "
        "ON u.user_key = f.user_key AND u.email > ''",
        "dim_user.email",
    ),
    ("SELECT (SELECT max(email) FROM dim_user) AS m", "dim_user.email"),
    ("SELECT x FROM dim_user, LATERAL (SELECT email AS x)", "dim_user.email"),
    ("SELECT x FROM (SELECT email AS x FROM dim_user UNION ALL SELECT 'a')", "dim_user.email"),
    (
        "SELECT email FROM (WITH dim_user AS (SELECT 1 AS x) SELECT x FROM dim_user) a, dim_user",
        "dim_user.email",
    ),
    (
        "WITH dim_channel AS (SELECT email FROM dim_user) SELECT * FROM dim_channel",
        "dim_user.email",
    ),
    ("SELECT t FROM dim_user t", "whole row"),
    ("SELECT dim_user FROM dim_user", "whole row"),
    ("SELECT to_json(t) FROM dim_user t", "whole row"),
    ("SELECT row_to_json(t) FROM dim_user t", "whole row"),
    ("SELECT t['email'] FROM dim_user t", "whole row"),
    ("SELECT struct_extract(t, 'email') FROM dim_user t", "whole row"),
    ("SELECT s.email FROM (SELECT dim_user AS s FROM dim_user)", "whole row"),
    ("SELECT struct_pack(t.*) FROM dim_user t", "personal data"),
    ("SELECT to_json(t.*) FROM dim_user t", "personal data"),
    ("SELECT COLUMNS(*) FROM dim_user", "COLUMNS"),
    ("SELECT COLUMNS('mail') FROM dim_user", "COLUMNS"),
    ("SELECT #10 FROM dim_user", "#n"),
]


@pytest.fixture(scope="module")
def pii_app(tiny_demo: str, tmp_path_factory: pytest.TempPathFactory):
    """The tiny demo with one user per role."""
    app = make_app(tiny_demo, tmp_path_factory.mktemp("sql_pii"))
    add_users(app)
    yield app
    app.server.extensions["starboard"].warehouse.dispose()


def _emails(text: str) -> list[str]:
    return [m.group(0) for m in EMAIL.finditer(text)]


def _callback(app, name: str, statement: str) -> str:
    """What the page's Run callback sends to the browser, as JSON text."""
    with acting(app, name):
        output = page_module("/t2/sql").run_statement(1, statement)
    return json.dumps(output, cls=PlotlyJSONEncoder)


def _csrf(client) -> str:
    page = render(client, "/t2/sql")
    form = find_all(page, lambda n: n.get("props", {}).get("action") == EXPORT_URL)
    fields = find_all(form, lambda n: n.get("props", {}).get("name") == "csrf_token")
    return fields[0]["props"]["value"]


def test_the_demo_really_has_emails(pii_app) -> None:
    with acting(pii_app, "ada"):
        rows = sql_q.run_sql("SELECT email FROM dim_user LIMIT 5").rows
    assert len(rows) == 5 and all(_emails(r[0]) for r in rows)  # the regex sees them


@pytest.mark.parametrize(("statement", "named"), ATTACKS)
def test_an_analyst_gets_no_email_through_any_door(pii_app, statement, named) -> None:
    with acting(pii_app, "ana"), pytest.raises(AccessDenied) as refused:
        sql_q.run_sql(statement)
    assert refused.value.message.startswith("Refused:")
    assert named in refused.value.message

    page = _callback(pii_app, "ana", statement)
    assert "Not run" in page and named in page and not _emails(page)

    client = signed_in(pii_app, "ana")
    got = client.get("/api/v1/sql/export.csv?q=" + quote(statement))
    assert got.status_code == 403 and named in got.get_json()["error"]["message"]
    posted = client.post(
        "/api/v1/sql/export.csv", data={"q": statement, "csrf_token": _csrf(client)}
    )
    assert posted.status_code == 403
    assert not _emails(got.get_data(as_text=True) + posted.get_data(as_text=True))


@pytest.mark.parametrize(
    ("statement", "_named"),
    ATTACKS
    + [
        ("SELECT * FROM dim_user", ""),
        ("SELECT u.* FROM dim_user u", ""),
        ("SELECT email FROM warehouse.main.dim_user", ""),
        ("SELECT email FROM main.dim_user", ""),
    ],
)
def test_the_analysts_sandbox_cannot_see_pii_even_past_the_parser(
    pii_app, statement, _named
) -> None:
    with acting(pii_app, "ana") as runtime:
        snap = runtime.warehouse.snapshot()
        policy = sql_q.policy_for(runtime, snap, runtime.users.by_name("ana"))
        try:
            with sql_q.open_sandbox(snap, sql_q.limits_of(runtime), policy) as runner:
                columns = runner.start(statement)
                rows = runner.fetch(100_000)
        except QueryError:
            return  # the warehouse refused it: nothing read
    assert "email" not in [c.lower() for c in columns]
    assert not _emails(json.dumps(rows, default=str))


def test_a_renamed_column_list_on_the_analysts_sandbox_names_no_pii(pii_app) -> None:
    """Past the parser, the issue's own attack runs — on a view without e-mail."""
    with acting(pii_app, "ana") as runtime:
        snap = runtime.warehouse.snapshot()
        policy = sql_q.policy_for(runtime, snap, runtime.users.by_name("ana"))
        result = sql_q.execute_sql(snap, RENAMED, sql_q.limits_of(runtime), policy)
    assert len(result.rows) == 3 and not _emails(repr(result.rows))
    assert {type(v) for (v,) in result.rows} == {bool}  # is_internal, not e-mail


def test_star_shows_an_analyst_the_columns_without_pii(pii_app) -> None:
    statement = "SELECT * FROM dim_user ORDER BY user_key LIMIT 20"
    with acting(pii_app, "ana"):
        result = sql_q.run_sql(statement)
    assert "email" not in result.columns and "country" in result.columns
    assert len(result.rows) == 20
    page = _callback(pii_app, "ana", statement)
    assert "country" in page and not _emails(page)
    client = signed_in(pii_app, "ana")
    got = client.get("/api/v1/sql/export.csv?q=" + quote(statement))
    rows = export.rows_of([got.get_data(as_text=True)])
    assert got.status_code == 200 and "email" not in rows[0] and len(rows) == 21
    assert not _emails(got.get_data(as_text=True))


def test_an_unknown_column_is_refused_clearly(pii_app) -> None:
    with acting(pii_app, "ana"), pytest.raises(QueryError) as refused:
        sql_q.run_sql("SELECT nope FROM dim_user")
    assert "'nope' could not be resolved" in refused.value.message


def test_the_catalog_behind_the_views_stays_out_of_reach(pii_app) -> None:
    """information_schema would name the random catalog the real tables sit in; any
    catalog or other schema is refused by name anyway."""
    for statement, reason in (
        ("SELECT table_catalog FROM information_schema.tables", "not available to your"),
        ("SELECT email FROM warehouse.main.dim_user", "names another database"),
        ("SELECT email FROM other.dim_user", "is not a table of the warehouse"),
    ):
        with acting(pii_app, "ana"), pytest.raises(QueryError) as refused:
            sql_q.run_sql(statement)
        assert reason in refused.value.message
    with acting(pii_app, "ada"):
        assert sql_q.run_sql("SELECT count(*) FROM information_schema.tables").rows


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT e FROM dim_user AS t(k, uid, sd, c, r, d, ch, seg, age, e) ORDER BY k LIMIT 3",
        "SELECT to_json(t) FROM dim_user t ORDER BY user_key LIMIT 3",
        "SELECT * FROM dim_user ORDER BY user_key LIMIT 3",
    ],
)
def test_an_admin_still_reads_emails(pii_app, statement) -> None:
    with acting(pii_app, "ada"):
        result = sql_q.run_sql(statement)
    assert len(result.rows) == 3 and len(_emails(repr(result.rows))) == 3
    assert len(_emails(_callback(pii_app, "ada", statement))) >= 3
    got = signed_in(pii_app, "ada").get("/api/v1/sql/export.csv?q=" + quote(statement))
    assert got.status_code == 200 and len(_emails(got.get_data(as_text=True))) == 3


def test_the_schema_listing_says_pii_is_hidden_from_the_role(pii_app) -> None:
    ana = render(signed_in(pii_app, "ana"), "/t2/sql")
    listing = texts(find(ana, "t2sql-schema"))
    assert any("Columns marked PII are hidden from your role" in t for t in listing)
    badge = find_all(ana, lambda n: n.get("props", {}).get("children") == "PII")
    assert badge and "hidden from your role" in badge[0]["props"]["title"]
    assert "hidden from your role" in texts(find(ana, "t2sql-limits"))[0]
    ada = render(signed_in(pii_app, "ada"), "/t2/sql")
    assert not any("hidden" in t for t in texts(find(ada, "t2sql-schema")))
    assert "hidden" not in texts(find(ada, "t2sql-limits"))[0]


def test_an_admins_policy_hides_nothing_and_an_analysts_hides_email(pii_app) -> None:
    with acting(pii_app, "ana") as runtime:
        snap = runtime.warehouse.snapshot()
        ana = sql_q.policy_for(runtime, snap, runtime.users.by_name("ana"))
        ada = sql_q.policy_for(runtime, snap, runtime.users.by_name("ada"))
    assert ana.hidden("dim_user") == {"email"} and "email" not in ana.visible_columns("dim_user")
    assert not ada.hides and "email" in ada.visible_columns("dim_user")
    with pytest.raises(StarboardError):
        sql_q.check_sql("SELECT email FROM dim_user", ana)
    assert sql_q.check_sql("SELECT email FROM dim_user", ada) is not None
