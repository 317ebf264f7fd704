"""producer download: streamed download from a real local HTTP server, and one-line failures."""
from __future__ import annotations

import http.server
import socket
import threading

import pytest

from producer.cli import main
from producer.commands.download import BASE_URL, DATASETS

PAYLOAD = b'{"ts":1538352117000,"page":"Home"}\n' * 50_000


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        if self.path == "/ok.json":
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD)
        elif self.path == "/short.json":  # promises more than it sends, then hangs up
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD) * 2))
            self.end_headers()
            self.wfile.write(PAYLOAD)
        else:
            self.send_error(404)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "Traceback" not in "\n".join(err)
    return err[-1]


def test_download_streams_to_file(server, tmp_path):
    assert main(["download", "mini", "--out", str(tmp_path) + "/", "--url", f"{server}/ok.json"]) == 0
    dest = tmp_path / DATASETS["mini"].file
    assert dest.read_bytes() == PAYLOAD
    assert not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize("path, expect", [("/missing.json", "HTTP 404"), ("/short.json", "stopped at")])
def test_download_errors_are_one_line_and_leave_nothing(server, tmp_path, capsys, path, expect):
    assert main(["download", "--out", str(tmp_path / "x.json"), "--url", server + path, "--timeout", "5"]) == 2
    assert expect in _one_line_error(capsys)
    assert list(tmp_path.iterdir()) == []


def test_unreachable_server_is_one_line(tmp_path, capsys):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["download", "--out", str(tmp_path), "--url", f"http://127.0.0.1:{port}/x", "--timeout", "2"]) == 2
    assert "cannot download" in _one_line_error(capsys)


def test_public_url_offline_fails_in_one_line(tmp_path, capsys):
    """The real public URL: on this offline machine it must fail fast, in one line, with exit 2."""
    host = BASE_URL.split("/")[2]
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        pass
    else:
        pytest.skip("online: the public download would really run")
    assert main(["download", "full", "--out", str(tmp_path), "--timeout", "3"]) == 2
    assert "sparkify_event_data.json" in _one_line_error(capsys)
    assert list(tmp_path.iterdir()) == []
