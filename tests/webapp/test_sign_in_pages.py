"""Sign-in and sign-up pages: refusals shown on the form, `next` honoured (local paths only),
display names checked with the contract's rules before anything is queued."""

from __future__ import annotations

from test_pages_security import csrf_of, new_http


def post_login(http, username, password, next_path=None):
    token = csrf_of(http.get("/login").text)
    data = {"username": username, "password": password, "_csrf_token": token}
    if next_path is not None:
        data["next"] = next_path
    return http.post("/login", data=data, follow_redirects=False)


def test_a_wrong_password_is_told_on_the_login_page_and_the_right_one_then_works(api, client):
    user_id, _ = api.register()
    http = new_http(client)
    refused = post_login(http, user_id, "wrong-password")
    assert refused.status_code == 401
    assert "Unknown user id or wrong password" in refused.text and 'role="alert"' in refused.text
    assert f'value="{user_id}"' in refused.text  # the user id stays typed in; the password does not
    assert "wrong-password" not in refused.text
    accepted = post_login(http, user_id, "user-pass-123")
    assert accepted.status_code == 303 and accepted.headers["location"] == "/dashboard"


def test_after_login_the_user_lands_where_it_wanted(api, client):
    user_id, _ = api.register()
    http = new_http(client)
    bounced = http.get("/market?q=load+curve", follow_redirects=False)
    assert bounced.status_code in (302, 303, 307)
    location = bounced.headers["location"]
    assert location.startswith("/login?next=")
    form = http.get(location).text
    assert 'name="next" value="/market?q=load+curve"' in form
    done = post_login(http, user_id, "user-pass-123", "/market?q=load+curve")
    assert done.headers["location"] == "/market?q=load+curve"


def test_next_never_leaves_the_console(api, client):
    user_id, _ = api.register()
    for evil in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", "/\tevil"):
        http = new_http(client)
        done = post_login(http, user_id, "user-pass-123", evil)
        assert done.status_code == 303 and done.headers["location"] == "/dashboard", evil


def test_admin_goes_to_next_too_and_else_to_the_review_queue(client):
    http = new_http(client)
    assert post_login(http, "admin", "admin-pass-123").headers["location"] == "/admin/reviews"
    http = new_http(client)
    assert post_login(http, "admin", "admin-pass-123", "/admin/audit").headers["location"] == "/admin/audit"


def test_display_names_follow_the_contracts_rules_before_queueing(api, client):
    user_id = api.unique("dn")
    for bad in ("   ", "tab\there", "x" * 65, "nul\x00byte"):
        response = client.post("/users/register", json={"userName": bad, "userId": user_id, "password": "user-pass-123"})
        assert response.status_code == 400 and response.json()["code"] == "BAD_USER_NAME", (bad, response.text)
    queued = client.get("/reviews", params={"requester": user_id, "status": ""}, headers=api.admin()).json()
    assert queued == []  # nothing was queued, and the user id is still free
    ok = client.post("/users/register", json={"userName": "Ünïcode Grid Ltd", "userId": user_id, "password": "user-pass-123"})
    assert ok.status_code == 202, ok.text


def test_sign_up_refusal_is_shown_on_the_form(api, client):
    http = new_http(client)
    token = csrf_of(http.get("/signup").text)
    user_id = api.unique("sp")
    response = http.post(
        "/signup",
        data={"username": user_id, "display_name": "bad\tname", "password": "user-pass-123", "password2": "user-pass-123", "_csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 400 and "BAD_USER_NAME" in response.text and f'value="{user_id}"' in response.text
    assert "user-pass-123" not in response.text


def test_a_form_sent_after_the_session_ended_comes_back_to_its_page_after_login(api, client):
    """Not to the form's POST-only address (that was a 405 after logging in), and the person
    is told the form was not applied."""
    user_id, _ = api.register()
    http = new_http(client)
    assert post_login(http, user_id, "user-pass-123").status_code == 303
    token = csrf_of(http.get("/dashboard").text)
    client.app.state.services.sessions.close_user(user_id)  # expired, or the console restarted
    sent = http.post(
        "/account/topup", data={"amount": "5", "_csrf_token": token},
        headers={"referer": "http://testserver.local/dashboard"}, follow_redirects=False,
    )
    assert sent.status_code in (302, 303), sent.text
    assert sent.headers["location"] == "/login?next=/dashboard&why=form"
    form = http.get(sent.headers["location"]).text
    assert "what you last sent was not done" in form and 'name="next" value="/dashboard"' in form
    back = post_login(http, user_id, "user-pass-123", "/dashboard")
    assert back.headers["location"] == "/dashboard"
    # a page asked for with a session that is gone says why the login is asked
    client.app.state.services.sessions.close_user(user_id)
    bounced = http.get("/market", follow_redirects=False)
    assert bounced.headers["location"] == "/login?next=/market&why=expired"
    assert "Your session has ended" in http.get(bounced.headers["location"]).text


def test_a_form_re_shown_at_its_post_only_address_leads_back_to_its_page_after_the_session_ended(client):
    """A refused form is shown again at the address it was posted to (here the customer link
    form at POST-only /metering/customers/link). Sent again once the session ended, the
    login's `next` is that address; after logging in the browser asks for it with GET, which
    was 405 "This address does not accept that method"; it now goes to the form's page."""
    http = new_http(client)
    assert post_login(http, "admin", "admin-pass-123").status_code == 303
    token = csrf_of(http.get("/metering/customers").text)
    typed = {"username": "nobody-here", "meterId": "", "name": "A Person", "id_number": "", "bank_account": "", "_csrf_token": token}
    refused = http.post("/metering/customers/link", data=typed, follow_redirects=False)
    assert 400 <= refused.status_code < 500 and 'action="/metering/customers/link"' in refused.text, refused.text
    client.app.state.services.sessions.close(http.cookies.get("gl_session"))  # expired, or the console restarted
    again = http.post(
        "/metering/customers/link", data=typed,
        headers={"referer": "http://testserver.local/metering/customers/link"}, follow_redirects=False,
    )
    assert again.headers["location"] == "/login?next=/metering/customers/link&why=form"
    back = post_login(http, "admin", "admin-pass-123", "/metering/customers/link")
    assert back.headers["location"] == "/metering/customers/link"
    landed = http.get(back.headers["location"], follow_redirects=False)
    assert landed.status_code == 303 and landed.headers["location"] == "/metering/customers", landed.text
    assert http.get("/metering/customers").status_code == 200


def test_every_post_only_page_address_answers_get_with_its_forms_page(api, client):
    """Reloading or reopening the address a form was posted to, with or without a session."""
    from webapp.form_pages import FORM_PAGES

    user_id, _ = api.register()
    http = new_http(client)
    assert post_login(http, user_id, "user-pass-123").status_code == 303
    for post_path, form_page in FORM_PAGES.items():
        address = post_path.replace("{asset_id:str}", "ds-1").replace("{request_id:str}", "r1").replace("{tariff_id:str}", "T1")
        address = address.replace("{alert_id:str}", "A1").replace("{username:str}", "u1")
        expected = form_page.format(asset_id="ds-1", request_id="r1", tariff_id="T1", alert_id="A1", username="u1")
        for who in (http, new_http(client)):  # logged in, and without a session
            response = who.get(address, follow_redirects=False)
            assert response.status_code == 303 and response.headers["location"] == expected, (address, response.status_code, response.text[:200])
    assert http.post("/account/topup", data={"amount": "5"}, follow_redirects=False).status_code == 403  # POST still needs its CSRF token


def test_no_page_handler_is_wrapped_for_a_thread_twice(client):
    """Litestar registers every handler of a path again when another joins it; a handler run
    in a thread (sync_to_thread) registered twice answered a coroutine, a 500 (the refused
    customer link did, with the GET redirect registered after it)."""
    from litestar.utils.sync import AsyncCallable

    twice = [
        handler.handler_name
        for route in client.app.routes
        for handler in getattr(route, "route_handlers", [])
        if isinstance(handler.fn, AsyncCallable) and isinstance(handler.fn.func, AsyncCallable)
    ]
    assert twice == []


def test_ids_the_contract_refuses_are_refused_before_anything_is_made(api, client):
    """Sign-up as 'firstIssueTag' (the history's mark of a first publication, never a user id)
    made a console account and wallet and queued a registration that could only fail
    INVALID_ID; an asset id with a non-ASCII letter ('café') passed the console's check too."""
    http = new_http(client)
    token = csrf_of(http.get("/signup").text)
    form = {"username": "firstIssueTag", "display_name": "Tag", "password": "user-pass-123", "password2": "user-pass-123", "_csrf_token": token}
    shown = http.post("/signup", data=form, follow_redirects=False)
    assert shown.status_code == 400 and "<code>BAD_USER_ID</code>" in shown.text and "reserved" in shown.text
    api_refused = client.post("/users/register", json={"userName": "Tag", "userId": "firstIssueTag", "password": "user-pass-123"})
    assert api_refused.status_code == 400 and api_refused.json()["code"] == "BAD_USER_ID"
    assert client.get("/reviews", params={"requester": "firstIssueTag", "status": ""}, headers=api.admin()).json() == []
    user_id, headers = api.register()
    for asset_id in ("firstIssueTag", "café"):
        refused = client.post("/assets/cancel", json={"assetId": asset_id, "issuerId": user_id}, headers=headers)
        assert refused.status_code == 400 and refused.json()["code"] == "BAD_ID", (asset_id, refused.text)
