"""The API's own pages (/docs, /redoc) run under their Content-Security-Policy in Chromium.

The CDN files they load are replaced by small stand-ins (the tests run offline) that do
what the real ones need the policy to allow: run after the page's inline script, fetch the
schema from the API, inject a style, start a blob: worker. Any violation fails the test.
"""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, Route, expect

from e2e.conftest import Stack

WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__violations.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""

SWAGGER_BUNDLE = """
window.SwaggerUIBundle = function (config) {
  const style = document.createElement('style');
  style.textContent = '#swagger-ui { min-height: 1px; }';
  document.head.appendChild(style);
  fetch(config.url).then((r) => r.json()).then((schema) => {
    const h = document.createElement('h1');
    h.textContent = 'Loaded ' + schema.info.title;
    document.getElementById('swagger-ui').appendChild(h);
  });
  return {};
};
window.SwaggerUIBundle.presets = { apis: {} };
window.SwaggerUIBundle.SwaggerUIStandalonePreset = {};
"""

REDOC_BUNDLE = """
(function () {
  const el = document.querySelector('redoc');
  const worker = new Worker(URL.createObjectURL(new Blob(['postMessage("ready")'])));
  worker.onmessage = () => {
    fetch(el.getAttribute('spec-url')).then((r) => r.json()).then((schema) => {
      const h = document.createElement('h1');
      h.textContent = 'Loaded ' + schema.info.title;
      document.body.appendChild(h);
    });
  };
})();
"""


def _serve(body: str, content_type: str) -> Callable[[Route], None]:
    def handler(route: Route) -> None:
        route.fulfill(status=200, body=body, content_type=content_type)

    return handler


def _offline_cdn(page: Page) -> None:
    page.route(
        "https://cdn.jsdelivr.net/**/swagger-ui-bundle.js",
        _serve(SWAGGER_BUNDLE, "text/javascript"),
    )
    page.route(
        "https://cdn.jsdelivr.net/**/swagger-ui.css", _serve("body { margin: 0; }", "text/css")
    )
    page.route(
        "https://cdn.jsdelivr.net/**/redoc.standalone.js", _serve(REDOC_BUNDLE, "text/javascript")
    )
    page.route("https://fonts.googleapis.com/**", _serve("", "text/css"))
    page.route("https://fastapi.tiangolo.com/**", lambda route: route.fulfill(status=204))


def _violations(page: Page) -> list[str]:
    found: list[str] = page.evaluate("window.__violations")
    return found


def test_swagger_ui_runs_under_its_policy(page: Page, stack: Stack) -> None:
    _offline_cdn(page)
    page.add_init_script(WATCH_VIOLATIONS)
    page.goto(f"{stack.api_url}/docs")
    expect(page.get_by_role("heading", name="Loaded Authflow API")).to_be_visible()
    assert _violations(page) == []


def test_redoc_runs_under_its_policy(page: Page, stack: Stack) -> None:
    _offline_cdn(page)
    page.add_init_script(WATCH_VIOLATIONS)
    page.goto(f"{stack.api_url}/redoc")
    expect(page.get_by_role("heading", name="Loaded Authflow API")).to_be_visible()
    assert _violations(page) == []


def test_the_policy_does_block_what_it_does_not_name(page: Page, stack: Stack) -> None:
    """The watcher sees violations: a script injected from elsewhere is refused."""
    _offline_cdn(page)
    page.route("https://elsewhere.example/**", _serve("window.__ran = true;", "text/javascript"))
    page.add_init_script(WATCH_VIOLATIONS)
    page.goto(f"{stack.api_url}/docs")
    expect(page.get_by_role("heading", name="Loaded Authflow API")).to_be_visible()
    page.evaluate(
        """() => new Promise((resolve) => {
          const s = document.createElement('script');
          s.src = 'https://elsewhere.example/x.js';
          s.onerror = resolve;
          s.onload = resolve;
          document.head.appendChild(s);
        })"""
    )
    assert page.evaluate("window.__ran === undefined")
    assert any(v.startswith("script-src") for v in _violations(page)), _violations(page)
