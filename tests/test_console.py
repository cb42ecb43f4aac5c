"""The console's pages and the API viewer: served without a key (they hold no data), under a
content security policy, with nothing of node_modules but Swagger UI's own files
(Flask test client; the pages at work are tested in a browser, tests/browser)."""

import re

import pytest

from app.console import docs

KEY = "k" * 24
PAGES = ["/", "/sessions", "/sessions/0b0c6c55-0000-4000-8000-000000000000", "/usage",
         "/status", "/docs"]


@pytest.fixture
def client(make_app):
    return make_app(API_KEY=KEY).test_client()


@pytest.mark.parametrize("path", PAGES)
def test_pages_need_no_key_and_run_only_our_own_scripts(client, path):
    page = client.get(path)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    html = page.get_data(as_text=True)
    assert not re.search(r"<script>(?!\s*</script>)", html)  # no inline script: CSP refuses it
    assert "http://" not in html and "https://" not in html  # nothing from a CDN


def test_every_script_and_stylesheet_a_page_names_is_served(client):
    for path in PAGES:
        html = client.get(path).get_data(as_text=True)
        for asset in re.findall(r'(?:src|href)="(/[^"]+\.(?:js|css|png))"', html):
            with client.get(asset) as served:
                assert served.status_code == 200, (path, asset)


def test_the_api_stays_behind_the_key(client):
    assert client.get("/api/usage").status_code == 401
    assert client.get("/api/usage", headers={"Authorization": f"Bearer {KEY}"}).status_code \
        == 200


def test_only_swagger_ui_s_own_files_are_served_from_node_modules(client):
    with client.get("/docs/swagger-ui/swagger-ui-bundle.js") as served:
        assert served.status_code == 200
    assert client.get("/docs/swagger-ui/package.json").status_code == 404
    assert client.get("/docs/swagger-ui/..%2F..%2Fpackage.json").status_code != 200


def test_without_npm_ci_the_docs_page_says_how_to_get_it(client, monkeypatch, tmp_path):
    monkeypatch.setattr(docs, "SWAGGER_UI", tmp_path)
    page = client.get("/docs")
    assert page.status_code == 503 and "npm ci" in page.get_data(as_text=True)
