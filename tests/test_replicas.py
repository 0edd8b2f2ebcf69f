"""deploy/: app replicas behind nginx with sticky sessions.

The compose file cannot run here (no Docker daemon), so its agreement with deploy/nginx.conf is
linted; the nginx config itself runs, on loopback, with Debian's nginx: deploy/replicas.py starts
two app processes behind it and drives browser tabs through it over Streamlit's protocol. Without
nginx these tests skip locally and fail under CI=true (.ci/run installs it).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

import pytest

from deploy import replicas
from tests.conftest import ROOT, require_nginx
from tests.helpers import descendants

pytestmark = pytest.mark.replicas

COMPOSE = (ROOT / "deploy" / "compose.yaml").read_text()
CONF = (ROOT / "deploy" / "nginx.conf").read_text()


def running(name: str) -> list[str]:
    """Command lines of this test process's descendants that mention `name`."""
    return [cmd for cmd in descendants().values() if name in cmd]


# The files (no nginx needed) -------------------------------------------------------------------
def test_compose_runs_two_replicas_of_the_repo_image_behind_nginx() -> None:
    services = re.findall(r"^  (app\d+): \*app$", COMPOSE, flags=re.M)
    assert services == ["app1", "app2"], services
    assert re.search(r"^    context: \.\.\s", COMPOSE, flags=re.M), "build from the repository root"
    assert "dockerfile: Dockerfile" in COMPOSE
    assert "- ./nginx.conf:/etc/nginx/nginx.conf:ro" in COMPOSE
    assert re.search(r"image: nginx:\S+", COMPOSE)
    assert COMPOSE.count("condition: service_healthy") == len(services)
    assert COMPOSE.count("/_stcore/health") >= 2  # the apps' check and the proxy's
    assert "STREAMLIT_SERVER_COOKIE_SECRET: ${PLAYGROUND_COOKIE_SECRET:?" in COMPOSE


def test_every_compose_replica_is_an_upstream_server_and_nothing_else() -> None:
    services = re.findall(r"^  (app\d+): \*app$", COMPOSE, flags=re.M)
    upstream = re.search(r"upstream playground \{(.*?)\}", CONF, flags=re.S)
    assert upstream
    servers = re.findall(r"^\s*server (\S+?):8501 ", upstream.group(1), flags=re.M)
    assert servers == services


def test_nginx_conf_is_sticky_by_a_cookie_and_forwards_streamlits_websocket() -> None:
    for line in (
        "hash $playground_route consistent;",  # affinity by the route cookie, not the client IP
        '""      $request_id;',  # a fresh random route id on the first visit...
        'add_header Set-Cookie $playground_route_cookie always;',  # ...handed back as a cookie
        "proxy_http_version 1.1;",
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $connection_upgrade;",
        "proxy_set_header Host $http_host;",  # with the port: Streamlit's websocket Origin check
        "proxy_read_timeout 86400s;",
        "upstream=$upstream_addr",  # the replica of every request, in the access log
    ):
        assert line in CONF, line
    assert "ip_hash" not in re.sub(r"#.*", "", CONF)


def test_render_changes_only_addresses_paths_and_the_worker_count(tmp_path: Path) -> None:
    text = replicas.render(CONF, ["127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003"],
                           "127.0.0.1:9000", tmp_path)
    gone = set(CONF.splitlines()) - set(text.splitlines())
    assert {line.strip().split()[0] for line in gone} == {
        "worker_processes", "pid", "error_log", "access_log", "server", "listen"}, gone
    servers = re.findall(r"^\s*server (\S+) max_fails=3 fail_timeout=10s;$", text, flags=re.M)
    assert servers == ["127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003"]
    assert "listen 127.0.0.1:9000;" in text
    assert f"access_log {tmp_path / 'access.log'} playground;" in text
    assert f"proxy_temp_path {tmp_path / 'proxy'};" in text
    assert "hash $playground_route consistent;" in text


@pytest.mark.parametrize("balance, line", [("round-robin", None), ("ip-hash", "ip_hash;")])
def test_render_controls_swap_only_the_hash_line(tmp_path: Path, balance: str, line: str | None) -> None:
    text = replicas.render(CONF, ["127.0.0.1:9001"], "127.0.0.1:9000", tmp_path, balance)
    code = re.sub(r"#.*", "", text)
    assert "hash $playground_route" not in code
    assert (line in code) if line else ("ip_hash" not in code)


def test_render_refuses_a_config_of_another_shape(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="listen 80"):
        replicas.render(CONF.replace("listen 80;", "listen 8080;"), ["127.0.0.1:9001"],
                        "127.0.0.1:9000", tmp_path)
    with pytest.raises(ValueError, match="hash"):
        replicas.render(CONF.replace("hash $playground_route consistent;", ""), ["127.0.0.1:9001"],
                        "127.0.0.1:9000", tmp_path)


# With nginx ------------------------------------------------------------------------------------
@pytest.mark.parametrize("balance", replicas.BALANCES)
def test_nginx_accepts_every_rendered_config(tmp_path: Path, balance: str) -> None:
    nginx = require_nginx()
    tmp_path.chmod(0o711)
    conf = tmp_path / "nginx.conf"
    conf.write_text(replicas.render(CONF, ["127.0.0.1:9001", "127.0.0.1:9002"], "127.0.0.1:9000",
                                    tmp_path, balance))
    done = subprocess.run([nginx, "-t", "-p", f"{tmp_path}/", "-c", str(conf), "-e",
                           str(tmp_path / "error.log")], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


def test_two_replicas_behind_nginx_keep_every_session_on_its_replica() -> None:
    require_nginx()
    # Runs at the app's default pace (60 steps/s), not flat out as the script's default link: on
    # a 2-core box three flat-out trainings slow every rerun down, and routing is what is tested.
    report = replicas.run(replicas.Demo(replicas=2, sessions=3, max_sessions=8, rounds=2,
                                        query="epochs=100000&model=mlp"))
    table = replicas.markdown(report)
    assert report.landed_on_all, table
    assert report.all_kept, table
    for tab in report.tabs:
        assert tab.one_replica and tab.same_session, table
        assert tab.websockets == 1 + 2, table  # the first socket and one per reconnect, all logged
        assert tab.uploads == [204, 204], table  # HTTP requests reach the websocket's replica
        assert len(tab.steps) == 3 and tab.counting_up, table
    # The controls fail the way stickiness prevents: round-robin sends a tab's upload or its
    # reconnect to the other replica, and ip_hash puts every tab from one address on one replica.
    assert report.controls_failed_as_expected, table
    rr = [t for t in report.controls if t.proxy == "round-robin"]
    assert rr and all(len(t.replicas) == 2 for t in rr), table
    assert all(400 in t.uploads or not t.same_session for t in rr), table
    assert not running("nginx") and not running("streamlit"), "left running"


def test_everything_started_is_stopped_when_the_proxy_cannot_start(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    require_nginx()
    broken = tmp_path / "nginx.conf"
    broken.write_text(CONF.replace("proxy_read_timeout 86400s;", "proxy_read_timeout forever;"))
    monkeypatch.setattr(replicas, "TEMPLATE", broken)
    before = set(Path(tempfile.gettempdir()).glob("playground-replicas-*"))
    with pytest.raises(RuntimeError, match="nginx -t failed"):
        replicas.run(replicas.Demo(replicas=2, sessions=1, rounds=1, controls=False, keep=False))
    assert not running("nginx") and not running("streamlit"), "left running"
    assert set(Path(tempfile.gettempdir()).glob("playground-replicas-*")) == before, "left behind"
