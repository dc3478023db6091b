"""The official Socket.IO Admin UI, served by Playwire at /admin/ui/, in Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from helpers.clients import EventClient
from helpers.server import ServerProcess

ADMIN_PASSWORD = "ui-secret"


@pytest.fixture
def admin_server(tmp_path):
    server = ServerProcess(tmp_path / "instance", "--admin-password", ADMIN_PASSWORD)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def chat_client(admin_server):
    """A python-socketio client in /chat, so that the UI has a socket to list."""
    client = EventClient(admin_server.url, "/chat", "websocket")
    client.connect(auth={"token": admin_server.register()["token"]})
    client.expect("presence")
    yield client
    client.close()


def tick(page, label: str) -> None:
    """Check the UI's checkbox ``label`` and wait until it shows checked.

    The click goes to the input itself, from the page: a pointer click can land on
    Vuetify's ripple or on the "Advanced options" panel while it is still expanding, and
    then leaves the box as it was (seen once in three runs on a loaded machine).
    """
    box = page.get_by_label(label)
    box.evaluate("input => { if (!input.checked) input.click(); }")
    expect(box).to_be_checked()


@pytest.fixture
def ui_page(browser, admin_server):
    """The Admin UI's connection form, filled in but for the password."""
    context = browser.new_context()
    # Nothing leaves the machine: the UI's web fonts and icons from CDNs are refused.
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
        admin_server.url) else route.abort())  # fmt: skip
    page = context.new_page()
    page.goto(admin_server.url + "/admin/ui/")
    page.get_by_label("Server URL").fill(admin_server.url)
    page.get_by_label("Username").fill("admin")
    yield page
    context.close()


def test_the_admin_ui_logs_in_and_lists_the_sockets(ui_page, admin_server, chat_client, transport):
    page = ui_page
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    if transport == "websocket":
        tick(page, "Advanced options")
        tick(page, "WebSocket only?")
    page.get_by_role("button", name="Connect").click()
    expect(page.get_by_text("connected", exact=True).first).to_be_visible()
    page.goto(admin_server.url + "/admin/ui/#/sockets/")
    chat_sid = chat_client.sio.get_sid("/chat")
    expect(page.get_by_text(chat_sid).first).to_be_visible()


def test_a_wrong_password_is_refused_in_the_ui(ui_page):
    ui_page.get_by_label("Password").fill("not-it")
    ui_page.get_by_role("button", name="Connect").click()
    expect(ui_page.get_by_text("Error: authentication failed")).to_be_visible()
