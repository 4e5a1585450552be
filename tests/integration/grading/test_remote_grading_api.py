"""The remote grading API for LMS plugins, against the real service in a real hub:
an otter master makes the assignment, notebooks are graded in the sandbox, time limits
and a full queue answer 408 and 503, deleting works, hub-made assignments stay out of
reach, and every kind of bad token is refused with 401."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import nbformat
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from coursehub.grading.remote_auth import RemoteAuthConfigError
from coursehub.grading.store import MAX_BYTES
from coursehub.service.routes.remote_grading.api import settings_from
from tests.helpers import fake_hub, hubproc
from tests.helpers.assignments import answer_otter, otter_master
from tests.helpers.browserless import login

pytestmark = [pytest.mark.integration, pytest.mark.root]

AUD = "coursehub-test"
ISS = "https://lms.example.edu/plugin"
USERS = {"tina": "tina-pass-789", "alice": "alice-pass-123"}
HUB_COURSE = "c101"
API = "/services/coursehub/api/grading"
DROP = object()
CORRECT = ("49", "    return 2 * x\n")


def _site_yaml(key_line: str, **grading: str) -> str:
    settings = "".join(f"  {k}: {v}\n" for k, v in grading.items())
    return (
        "grading:\n" + settings + "  limits:\n    cell_time: 5s\n    wall_time: 40s\n"
        "  remote_api:\n    enabled: true\n"
        f"    audience: {AUD}\n    issuer: {ISS}\n    {key_line}\n    wait: 5m\n"
    )


@pytest.fixture(scope="module")
def hs_site(
    site_folder: Callable[..., Path],
    start_hub: Callable[..., hubproc.RunningHub],
    make_course_repo: Callable[..., Path],
) -> tuple[hubproc.RunningHub, bytes]:
    """One grader, one waiting grading at most, HS256 tokens; a hub course c101 with
    an instructor-made assignment hw1 and a student alice."""
    base = site_folder("remote", outside_tmp=True)
    secret = secrets.token_hex(32).encode()
    (base / "remote-secret").write_bytes(secret + b"\n")
    (base / "remote-secret").chmod(0o600)
    notebook = nbformat.writes(nbformat.v4.new_notebook())
    repo = make_course_repo({"intro.ipynb": notebook}, base / "repo")
    master = otter_master(base / "hub-source" / "squares.ipynb")
    site = start_hub(
        base,
        users=USERS,
        roles={"tina": "instructor"},
        extra_yaml=_site_yaml(
            f"secret_file: {base / 'remote-secret'}", parallel="1", max_queued="1"
        ),
        data_dir=base / "data",
        courses={HUB_COURSE: hubproc.Course(repo, ("alice",), {"tina": "instructor"})},
        then=[("assignment", "create", HUB_COURSE, "hw1", "--from", str(master))],
    )
    return site, secret


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.fixture(scope="module")
def rs_site(
    rsa_key: rsa.RSAPrivateKey,
    site_folder: Callable[..., Path],
    start_hub: Callable[..., hubproc.RunningHub],
) -> hubproc.RunningHub:
    """A second site whose LMS signs with RS256."""
    base = site_folder("remote", outside_tmp=True)
    (base / "lms.pem").write_bytes(_public_pem(rsa_key))
    extra = _site_yaml(f"public_key_file: {base / 'lms.pem'}")
    return start_hub(base, users={"tina": USERS["tina"]}, extra_yaml=extra, data_dir=base / "data")


# ---- tokens and requests -------------------------------------------------------


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {"iss": ISS, "aud": AUD, "iat": now, "exp": now + 600, "sub": "lms"}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not DROP}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def handmade(header: dict[str, Any], payload: dict[str, Any], key: bytes | None) -> str:
    """A token PyJWT refuses to make: alg none, or HS256 keyed with a public key."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    sig = b"" if key is None else hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(sig)}"


def bearer(secret: bytes, **changes: Any) -> dict[str, str]:
    return {"Authorization": "Bearer " + jwt.encode(claims(**changes), secret, "HS256")}


def url(hub: hubproc.RunningHub, *parts: str) -> str:
    return "/".join([hub.url + API, *parts])


def notebook_file(data: bytes, name: str = "answer.ipynb") -> dict[str, Any]:
    return {"notebook": (name, data, "application/x-ipynb+json")}


def create(hub: hubproc.RunningHub, auth: dict[str, str], course: str, activity: str,
           master: Path, data: dict[str, bytes] | None = None) -> httpx.Response:  # fmt: skip
    files = [("notebook", (master.name, master.read_bytes()))]
    files += [("files", (name, content)) for name, content in (data or {}).items()]
    return httpx.post(url(hub, course, activity), headers=auth, files=files, timeout=300)


def submit(hub: hubproc.RunningHub, auth: dict[str, str], course: str, activity: str,
           student: str, data: bytes, **params: Any) -> httpx.Response:  # fmt: skip
    return httpx.post(url(hub, course, activity, student), headers=auth, params=params,
                      files=notebook_file(data), timeout=400)  # fmt: skip


def poll(hub: hubproc.RunningHub, auth: dict[str, str], path: str, until: Any) -> dict:
    """GET the result until `until(response)` holds."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        got = httpx.get(hub.url + path, headers=auth, timeout=30)
        if until(got):
            return got.json()
        time.sleep(0.5)
    raise AssertionError(f"{path}: {got.status_code} {got.text}\n{hub.log_tail()}")


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body


@pytest.fixture(scope="module")
def squares(hs_site: tuple[hubproc.RunningHub, bytes], tmp_path_factory: pytest.TempPathFactory
            ) -> tuple[Path, dict]:  # fmt: skip
    """The remote assignment stats/squares made from an otter master and a data file it
    hands out: (student notebook saved to a file, creation answer)."""
    hub, secret = hs_site
    folder = tmp_path_factory.mktemp("squares")
    master = otter_master(folder / "squares.ipynb")
    nb = nbformat.read(master, as_version=4)
    nb.cells[0].source += "files:\n- data.csv\n"  # otter assign hands out what is listed
    nbformat.write(nb, master)
    data = {"data.csv": b"x\n7\n"}
    made = create(hub, bearer(secret), "stats", "squares", master, data)
    assert made.status_code == 201, made.text
    body = made.json()
    student = folder / "student.ipynb"
    student.write_text(json.dumps(body["notebook"]))
    return student, body


# ---- assignments and grading -----------------------------------------------------


def test_created_from_an_otter_master_gives_the_student_notebook_and_points(
    squares: tuple[Path, dict],
) -> None:
    _student, body = squares
    assert body["questions"] == {"q1": {"max": 2.0}, "q2": {"max": 3.0}}
    assert body["max"] == 5.0
    assert body["notebook_name"] == "squares.ipynb"
    assert body["files"] == ["data.csv", "squares.ipynb"]
    nb = nbformat.reads(json.dumps(body["notebook"]), as_version=4)
    nbformat.validate(nb)
    sources = "\n".join(c.source for c in nb.cells)
    assert "sq = ..." in sources and "7 ** 2" not in sources  # the solution is gone
    tests = nb.metadata["otter"]["tests"]
    cases = [case for spec in tests.values() for case in spec["suites"][0]["cases"]]
    assert cases and not any(case["hidden"] for case in cases)  # hidden tests are gone
    assert "isinstance" not in json.dumps(body["notebook"])


def test_correct_answer_gets_full_points_once_per_idempotency_key(
    hs_site: tuple[hubproc.RunningHub, bytes], squares: tuple[Path, dict]
) -> None:
    hub, secret = hs_site
    student, _ = squares
    auth = {**bearer(secret), "Idempotency-Key": "alice-1"}
    first = submit(hub, auth, "stats", "squares", "alice", answer_otter(student, *CORRECT))
    assert first.status_code == 200, first.text
    result = first.json()
    assert (result["total"], result["max"], result["status"]) == (5.0, 5.0, "done")
    assert result["questions"]["q1"] == {**result["questions"]["q1"], "points": 2.0,
                                         "max": 2.0, "passed": True}  # fmt: skip
    assert result["questions"]["q2"]["points"] == 3.0
    assert "q2: 3 / 3" in result["output"] and result["time_limits"] == []
    again = submit(hub, auth, "stats", "squares", "alice", answer_otter(student, *CORRECT))
    assert again.status_code == 200, again.text
    assert again.json()["submission"] == result["submission"]
    assert again.json()["attempt"] == 1
    latest = httpx.get(url(hub, "stats", "squares", "alice"), headers=bearer(secret))
    assert latest.status_code == 200 and latest.json()["total"] == 5.0


def test_wrong_answer_gets_partial_points_with_the_test_output(
    hs_site: tuple[hubproc.RunningHub, bytes], squares: tuple[Path, dict]
) -> None:
    hub, secret = hs_site
    student, _ = squares
    wrong = answer_otter(student, "49", "    return x + 1\n")
    response = submit(hub, bearer(secret), "stats", "squares", "bob", wrong)
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["total"], result["max"]) == (2.0, 5.0)
    assert result["questions"]["q2"]["points"] == 0 and result["questions"]["q2"]["passed"] is False
    assert "double(2) == 4" in result["questions"]["q2"]["message"]
    assert "double(2) == 4" in result["output"] and "q2: 0 / 3" in result["output"]


def test_infinite_loop_is_answered_408_saying_which_cell_hit_which_limit(
    hs_site: tuple[hubproc.RunningHub, bytes], squares: tuple[Path, dict]
) -> None:
    hub, secret = hs_site
    student, _ = squares
    nb = nbformat.reads(answer_otter(student, "49", CORRECT[1]).decode(), as_version=4)
    for cell in nb.cells:
        if cell.source.startswith("sq ="):
            cell.source = "while True:\n    pass"
    looping = nbformat.writes(nb).encode()
    response = submit(hub, bearer(secret), "stats", "squares", "carol", looping)
    body = assert_error(response, 408, "grading_time_limit")
    message = body["error"]["message"]
    assert "code cell 2 of 5 ('while True:'): stopped after" in message, message
    assert "5 s per cell" in message
    result = body["result"]
    assert result["questions"]["q1"]["points"] == 0  # sq was never set
    assert result["questions"]["q2"]["points"] == 3  # the rest was still graded
    assert result["outcome"] == "ok"


def test_full_queue_is_answered_503_and_a_long_grading_408_then_kept(
    hs_site: tuple[hubproc.RunningHub, bytes], squares: tuple[Path, dict]
) -> None:
    """One grader and one waiting place: a slow notebook runs, an honest one waits,
    a third is refused without being stored; the first two are graded in the end."""
    hub, secret = hs_site
    student, _ = squares
    auth = bearer(secret)
    nb = nbformat.reads(answer_otter(student, *CORRECT).decode(), as_version=4)
    nb.cells += [nbformat.v4.new_code_cell("import time\ntime.sleep(2)") for _ in range(30)]
    slow = submit(hub, auth, "stats", "squares", "dave", nbformat.writes(nb).encode(), wait=0)
    body = assert_error(slow, 408, "grading_not_finished")
    assert "will be kept" in body["error"]["message"]
    result_path = body["result_url"]
    assert result_path.endswith("/grading/stats/squares/dave")
    poll(hub, auth, result_path, lambda r: r.status_code == 202 and r.json()["status"] == "running")

    honest = answer_otter(student, *CORRECT)
    waiting = submit(hub, auth, "stats", "squares", "erin", honest, wait=0)
    assert assert_error(waiting, 408, "grading_not_finished")["status"] == "queued"

    refused = submit(hub, auth, "stats", "squares", "frank", honest)
    assert_error(refused, 503, "queue_full")
    assert refused.headers["Retry-After"].isdigit()
    nothing = httpx.get(url(hub, "stats", "squares", "frank"), headers=auth)
    assert_error(nothing, 404, "not_found")  # refused before anything was stored

    done = poll(hub, auth, result_path, lambda r: r.status_code == 200)
    assert any("wall-time limit of 40 s" in what for what in done["time_limits"]), done
    assert done["total"] == 0  # the tests come after the notebook: they never ran
    assert "not run" in done["questions"]["q1"]["message"]
    graded = poll(hub, auth, waiting.json()["result_url"], lambda r: r.status_code == 200)
    assert graded["total"] == 5.0 and graded["time_limits"] == []


def test_deleted_assignment_is_gone_with_its_submissions(
    hs_site: tuple[hubproc.RunningHub, bytes], tmp_path: Path
) -> None:
    hub, secret = hs_site
    auth = bearer(secret)
    made = create(hub, auth, "stats", "gone", otter_master(tmp_path / "gone.ipynb"))
    assert made.status_code == 201, made.text
    (tmp_path / "student.ipynb").write_text(json.dumps(made.json()["notebook"]))
    answer = answer_otter(tmp_path / "student.ipynb", *CORRECT)
    assert submit(hub, auth, "stats", "gone", "alice", answer).status_code == 200
    stored = hub.data_dir / "submissions" / "lms+stats" / "gone"
    assert list(stored.rglob("gone.ipynb"))

    deleted = httpx.delete(url(hub, "stats", "gone"), headers=auth)
    assert deleted.status_code == 204, deleted.text
    assert_error(submit(hub, auth, "stats", "gone", "alice", answer), 404, "not_found")
    assert_error(httpx.get(url(hub, "stats", "gone", "alice"), headers=auth), 404, "not_found")
    assert_error(httpx.delete(url(hub, "stats", "gone"), headers=auth), 404, "not_found")
    assert not list(stored.rglob("gone.ipynb"))
    assert not (hub.data_dir / "grading" / "lms+stats" / "otter" / "gone").exists()


def test_hub_made_assignment_of_the_same_name_is_out_of_reach(
    hs_site: tuple[hubproc.RunningHub, bytes], tmp_path: Path
) -> None:
    """The hub course c101 has hw1 (5 points) and a submission from alice; the LMS makes
    its own c101/hw1 (6 points), looks for alice and deletes it: the hub's are intact."""
    hub, secret = hs_site
    auth = bearer(secret)
    tokens = {}
    for name in ("tina", "alice"):
        login(hub.url, name, USERS[name])
        tokens[name] = {"Authorization": f"token {hub.user_token(name)}"}
    hub_api = f"{hub.url}/services/coursehub/api/courses/{HUB_COURSE}/assignments"
    released = httpx.post(f"{hub_api}/hw1/release", headers=tokens["tina"], timeout=60)
    assert released.status_code == 200, released.text
    student_version = hub.data_dir / "released" / HUB_COURSE / "hw1" / "squares.ipynb"
    handed_in = httpx.post(
        f"{hub_api}/hw1/submit",
        headers=tokens["alice"],
        files={"files": ("squares.ipynb", answer_otter(student_version, *CORRECT))},
        timeout=60,
    )
    assert handed_in.status_code == 201, handed_in.text
    poll(hub, tokens["alice"], f"/services/coursehub/api/courses/{HUB_COURSE}/assignments/hw1/"
         "submissions", lambda r: r.json()["attempts"][0]["status"] == "done")  # fmt: skip
    before = httpx.get(hub_api, headers=tokens["tina"]).json()["assignments"]

    assert_error(httpx.get(url(hub, HUB_COURSE, "hw1", "alice"), headers=auth), 404, "not_found")
    master = otter_master(tmp_path / "hw1.ipynb")
    nb = nbformat.read(master, as_version=4)
    for cell in nb.cells:
        cell.source = cell.source.replace("name: q2\npoints: 3", "name: q2\npoints: 4")
    nbformat.write(nb, master)
    made = create(hub, auth, HUB_COURSE, "hw1", master)
    assert made.status_code == 201, made.text  # a new assignment, not the hub's remade
    assert made.json()["max"] == 6.0
    lms_view = httpx.get(url(hub, HUB_COURSE, "hw1", "alice"), headers=auth)
    assert_error(lms_view, 404, "not_found")  # the hub's alice is not the LMS's
    assert httpx.delete(url(hub, HUB_COURSE, "hw1"), headers=auth).status_code == 204

    after = httpx.get(hub_api, headers=tokens["tina"]).json()["assignments"]
    assert after == before
    assert [a["max_points"] for a in after if a["name"] == "hw1"] == [5.0]
    detail = httpx.get(f"{hub_api}/hw1/students/alice", headers=tokens["tina"]).json()
    assert [a["total"] for a in detail["attempts"]] == [5.0]


@pytest.mark.parametrize(
    ("path", "content", "status", "words"),
    [
        ("stats/a..b", b"{}", 400, "not a valid activity name"),
        ("c%2B1/hw", b"{}", 400, "not a valid course name"),
        ("stats/squares/bad%20name", b"{}", 400, "not a valid student name"),
        ("stats/squares/alice", b"not json", 400, "not a readable notebook"),
        ("stats/plain", nbformat.writes(nbformat.v4.new_notebook()).encode(), 400,
         "not an otter-grader master notebook"),
        ("stats/unknown/alice", b"{}", 404, "create it first"),
    ],
)  # fmt: skip
def test_bad_names_and_uploads_are_refused_with_a_reason(
    hs_site: tuple[hubproc.RunningHub, bytes],
    squares: tuple[Path, dict],
    path: str,
    content: bytes,
    status: int,
    words: str,
) -> None:
    hub, secret = hs_site
    response = httpx.post(f"{hub.url}{API}/{path}", headers=bearer(secret),
                          files=notebook_file(content), timeout=60)  # fmt: skip
    assert response.status_code == status, response.text
    assert words in response.json()["error"]["message"]


def test_oversized_upload_is_refused_with_413(hs_site: tuple[hubproc.RunningHub, bytes]) -> None:
    hub, secret = hs_site
    big = b"x" * (MAX_BYTES + 100_000)
    response = submit(hub, bearer(secret), "stats", "squares", "alice", big)
    assert_error(response, 413, "too_large")


# ---- who may call ----------------------------------------------------------------


def _refused(response: httpx.Response, code: str, secrets_sent: list[str]) -> None:
    assert_error(response, 401, code)
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert ('error="invalid_token"' in challenge) == (code != "missing_token")
    for sent in secrets_sent:
        assert sent not in response.text


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("no header", "missing_token"),
        ("basic scheme", "bad_scheme"),
        ("token scheme", "bad_scheme"),
        ("alg none", "algorithm_not_allowed"),
        ("wrong secret", "bad_signature"),
        ("expired", "token_expired"),
        ("wrong audience", "bad_audience"),
        ("wrong issuer", "bad_issuer"),
        ("no exp", "missing_claim"),
    ],
)
def test_bad_tokens_are_refused_with_401(
    hs_site: tuple[hubproc.RunningHub, bytes], case: str, code: str
) -> None:
    hub, secret = hs_site
    good = jwt.encode(claims(), secret, "HS256")
    past = int(time.time()) - 7200
    tokens = {
        "no header": None,
        "basic scheme": "Basic " + base64.b64encode(b"lms:" + secret).decode(),
        "token scheme": f"token {good}",
        "alg none": "Bearer " + handmade({"alg": "none", "typ": "JWT"}, claims(), None),
        "wrong secret": "Bearer " + jwt.encode(claims(), secrets.token_hex(32), "HS256"),
        "expired": "Bearer " + jwt.encode(claims(iat=past, exp=past + 600), secret, "HS256"),
        "wrong audience": "Bearer " + jwt.encode(claims(aud="other"), secret, "HS256"),
        "wrong issuer": "Bearer " + jwt.encode(claims(iss="https://evil"), secret, "HS256"),
        "no exp": "Bearer " + jwt.encode(claims(exp=DROP), secret, "HS256"),
    }
    header = tokens[case]
    headers = {"Authorization": header} if header else {}
    response = httpx.post(url(hub, "stats", "squares", "alice"), headers=headers,
                          files=notebook_file(b"{}"))  # fmt: skip
    _refused(response, code, [good, secret.decode(), *(header or "").split()[1:]])
    assert not any(t and t.split()[-1] in hub.log_tail(400) for t in tokens.values())


@pytest.mark.parametrize("scheme", ["Bearer", "token"])
def test_hub_token_does_not_work_on_the_grading_api(
    hs_site: tuple[hubproc.RunningHub, bytes], scheme: str
) -> None:
    hub, _ = hs_site
    login(hub.url, "tina", USERS["tina"])
    hub_token = hub.user_token("tina")
    headers = {"Authorization": f"{scheme} {hub_token}"}
    response = httpx.get(url(hub, HUB_COURSE, "hw1", "alice"), headers=headers)
    _refused(response, "malformed_token" if scheme == "Bearer" else "bad_scheme", [hub_token])
    # ...while the same token works on the hub's own course API
    mine = httpx.get(f"{hub.url}/services/coursehub/api/whoami", headers=headers)
    assert mine.status_code == 200 and mine.json()["name"] == "tina"


def test_grading_token_does_not_work_on_other_routes(
    hs_site: tuple[hubproc.RunningHub, bytes],
) -> None:
    hub, secret = hs_site
    response = httpx.get(f"{hub.url}/services/coursehub/api/whoami", headers=bearer(secret))
    assert response.status_code == 401, response.text


def test_rs256_site_takes_its_key_and_refuses_algorithm_confusion(
    rs_site: hubproc.RunningHub, rsa_key: rsa.RSAPrivateKey
) -> None:
    hub = rs_site
    signed = {"Authorization": "Bearer " + jwt.encode(claims(), rsa_key, "RS256")}
    known = httpx.get(url(hub, "stats", "nothing", "alice"), headers=signed)
    assert_error(known, 404, "not_found")  # past the token check: there is no such activity
    # HS256 keyed with the public key, which anyone may have
    confused = handmade({"alg": "HS256", "typ": "JWT"}, claims(), _public_pem(rsa_key))
    response = httpx.get(url(hub, "stats", "nothing", "alice"),
                         headers={"Authorization": f"Bearer {confused}"})  # fmt: skip
    _refused(response, "algorithm_not_allowed", [confused])
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = {"Authorization": "Bearer " + jwt.encode(claims(), other, "RS256")}
    _refused(httpx.get(url(hub, "stats", "nothing", "alice"), headers=forged), "bad_signature", [])


# ---- configuration (no hub needed) --------------------------------------------------


def test_routes_answer_404_when_the_api_is_off() -> None:
    async def ask() -> httpx.Response:
        app, _ = fake_hub.build()
        async with fake_hub.client(app) as client:
            return await client.post(f"{API}/lms/squares/alice", headers=fake_hub.bearer("x"))

    fake_hub.assert_error(asyncio.run(ask()), 404, "not_found")


def test_secret_file_others_can_read_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text(secrets.token_hex(32))
    secret.chmod(0o644)
    section = {"enabled": True, "audience": AUD, "issuer": ISS, "secret_file": str(secret)}
    with pytest.raises(RemoteAuthConfigError, match="chmod 600"):
        settings_from(section)
    secret.chmod(0o600)
    assert settings_from(section).algorithm == "HS256"
    secret.write_text("short")
    with pytest.raises(RemoteAuthConfigError, match="openssl rand -hex 32"):
        settings_from(section)


def test_service_refuses_to_start_with_a_bad_secret(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text(secrets.token_hex(32))
    secret.chmod(0o640)
    section = {"enabled": True, "audience": AUD, "issuer": ISS, "secret_file": str(secret)}
    app, _ = fake_hub.build(COURSEHUB_GRADING=json.dumps({"remote_api": section}))

    async def start() -> None:
        async with app.router.lifespan_context(app):
            raise AssertionError("the service started")

    with pytest.raises(RemoteAuthConfigError, match=r"^grading\.remote_api: .*`chmod 600 "):
        asyncio.run(start())
