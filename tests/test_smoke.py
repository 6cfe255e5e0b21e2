async def test_live(client):
    r = await client.get("/health/live")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


async def test_me(client, users):
    alice = await users.create("alice")
    r = await client.get("/v1/me", headers=alice.headers)
    assert r.status_code == 200, r.text
    assert r.json()["username"] == "alice"
