"""Accounts: a member's balance and holdings only for itself and administrators; public profiles."""

from __future__ import annotations

from test_pages_security import new_http, page_login


def test_users_get_of_another_member_is_403_unless_admin(api, client):
    alice, alice_h = api.register()
    bob, bob_h = api.register()
    api.topup(bob, bob_h, 98765)
    refused = client.get("/users/get", params={"userId": bob}, headers=alice_h)
    assert refused.status_code == 403 and refused.json()["code"] == "NOT_YOUR_ACCOUNT"
    assert "Token" not in refused.text
    assert client.get("/users/get", params={"userId": bob}, headers=bob_h).json()["Token"] == 98765
    assert client.get("/users/get", params={"userId": bob}, headers=api.admin()).json()["Token"] == 98765


def test_public_profile_shows_name_and_organization_only(api, client):
    alice, alice_h = api.register()
    bob, bob_h = api.register()
    api.topup(bob, bob_h, 98765)
    profile = client.get("/users/profile", params={"userId": bob}, headers=alice_h)
    assert profile.status_code == 200
    assert profile.json() == {"userId": bob, "userName": f"Name {bob}", "org": "Org1"}
    http = new_http(client)
    page_login(http, alice)
    html = http.get(f"/people/{bob}").text
    assert f"Name {bob}" in html and "Org1" in html
    assert "98765" not in html.split('id="profile"')[1] and "Token" not in html
    assert http.get("/people/nobody-at-all").status_code == 404
