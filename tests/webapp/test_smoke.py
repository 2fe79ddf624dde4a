def test_index_answers_height(client):
    response = client.get("/index")
    assert response.status_code == 200, response.text
    assert response.json()["height"] >= 1


def test_register_approve_and_query(api, client):
    user_id, headers = api.register()
    response = client.get("/users/get", params={"userId": user_id}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["Id"] == user_id
