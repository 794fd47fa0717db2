from fastapi.testclient import TestClient

from support import bearer, signup


def test_signup_then_me(client: TestClient) -> None:
    body = signup(client)
    me = client.get("/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["email"] == body["user"]["email"]
