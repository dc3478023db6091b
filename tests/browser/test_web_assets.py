"""How Flask serves the page and the npm-installed socket.io-client (no browser needed)."""

from __future__ import annotations

from flask import Flask

from playwire import web

CLIENT = "/vendor/socket.io/socket.io.esm.min.js"


def make_app(**config) -> Flask:
    app = Flask(__name__)
    app.config.update(config)
    web.init_app(app)
    return app


def get(app: Flask, path: str) -> tuple[int, bytes]:
    # Close each response: file responses hold the file open until then.
    with app.test_client().get(path) as response:
        return response.status_code, response.get_data()


def test_the_page_and_its_modules_are_served():
    app = make_app()
    status, page = get(app, "/")
    assert status == 200
    assert b'<script type="module" src="/web/static/main.js">' in page
    assert get(app, "/web/static/main.js")[0] == 200


def test_the_socket_io_client_comes_from_node_modules():
    status, body = get(make_app(), CLIENT)
    assert status == 200, "run `npm ci` first"
    assert b"Socket.IO v4.8." in body


def test_only_the_client_builds_are_served():
    app = make_app()
    assert get(app, "/vendor/socket.io/../package.json")[0] == 404
    assert get(app, "/vendor/socket.io/socket.io.js")[0] == 404


def test_a_missing_install_is_a_clear_500(tmp_path, monkeypatch):
    monkeypatch.setattr(web, "SOURCE_NODE_MODULES", tmp_path / "nowhere")
    monkeypatch.chdir(tmp_path)
    status, body = get(make_app(), CLIENT)
    assert status == 500
    assert b"socket.io-client is not installed: run `npm ci`" in body


def test_a_configured_node_modules_wins(tmp_path):
    dist = tmp_path / "node_modules" / "socket.io-client" / "dist"
    dist.mkdir(parents=True)
    (dist / "socket.io.esm.min.js").write_text("// configured copy\n")
    app = make_app(PLAYWIRE_NODE_MODULES=str(tmp_path / "node_modules"))
    assert get(app, CLIENT) == (200, b"// configured copy\n")
