from __future__ import annotations

from authflow.kit.user_agent import describe


def test_known_and_unknown_agents() -> None:
    assert describe(None) == ("Unknown browser", "Unknown device")
    assert describe("") == ("Unknown browser", "Unknown device")
    assert describe("x" * 512) == ("Unknown browser", "Unknown device")
    browser, device = describe(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0"
    )
    assert browser == "Firefox 140"
    assert device == "Windows"
