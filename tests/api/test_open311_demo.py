"""The demo loads one Open311 client, and the key ``flask demo load`` prints files a
request there."""

from app.demo import district

BASE = "/open311/v2"


def test_demo_load_prints_a_working_open311_key(app, clean_db, client):
    output = app.test_cli_runner().invoke(args=["demo", "load", "--no-history"]).output
    line = next(line for line in output.splitlines() if "Open311" in line)
    key = line.rsplit(" ", 1)[-1]
    again = app.test_cli_runner().invoke(args=["demo", "load", "--no-history"]).output
    assert key in again
    service = client.get(f"{BASE}/services.json").get_json()[0]
    feature = district.unit_grids()["features"][0]
    lon, lat = feature["geometry"]["coordinates"][0][0]
    response = client.post(
        f"{BASE}/requests.json",
        data={
            "api_key": key,
            "service_code": service["service_code"],
            "lat": str(lat + 0.0001),
            "long": str(lon + 0.0001),
            "description": "demo",
        },
    )
    assert response.status_code == 200, response.data
    assert client.get(f"{BASE}/requests.json").get_json()[0]["status"] == "open"
