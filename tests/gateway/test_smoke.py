from tests.conftest import API_TOKEN, PORTAL_TOKEN, base


async def test_portal_submission_becomes_readable_ticket(gateway, http):
    async with http.post(f"{base(gateway)}/v1/portal/submissions", json={
        "requester": {"email": "ann@example.org", "name": "Ann"}, "subject": "Printer", "body": "It burns",
    }, headers={"Authorization": f"Bearer {PORTAL_TOKEN}"}) as resp:
        assert resp.status == 202, await resp.text()
        ids = await resp.json()
    async with http.get(f"{base(gateway)}/v1/tickets/{ids['ticket_id']}",
                        headers={"Authorization": f"Bearer {API_TOKEN}"}) as resp:
        ticket = await resp.json()
    assert ticket["opened_via"] == "portal"
    assert ticket["messages"][0]["id"] == ids["message_id"]
