import schemathesis
from hypothesis import settings, HealthCheck
from tests.support.simulation import make_platform, FakeClock
from vmop.sim.app import create_app

app = create_app(make_platform(FakeClock()))
schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(path_regex="^/v1/compute/")
@schema.parametrize()
@settings(max_examples=40, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
def test_api(case):
    try:
        response = case.call()
    except Exception as e:
        print("EXC", case.method, case.path, case.query, case.body, repr(e)[:300]); return
    try:
        body = response.json()
    except Exception:
        print("BAD-NOJSON", case.method, case.path, response.status_code, response.text[:200]); return
    if response.status_code >= 500 or not isinstance(body, dict) or "scode" not in body:
        print("BAD", case.method, case.path, case.query, case.body, response.status_code, body)
