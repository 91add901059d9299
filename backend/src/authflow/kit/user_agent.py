"""Human names for a User-Agent string ("Chrome 156", "Linux"), for the sessions list."""

from __future__ import annotations

from functools import lru_cache

from ua_parser import parse


@lru_cache(maxsize=1024)
def describe(user_agent: str | None) -> tuple[str, str]:
    """(browser, device). Unknown parts come back as "Unknown browser" / "Unknown device"."""
    if not user_agent:
        return "Unknown browser", "Unknown device"
    result = parse(user_agent)
    browser = "Unknown browser"
    if result.user_agent is not None and result.user_agent.family != "Other":
        ua = result.user_agent
        browser = f"{ua.family} {ua.major}" if ua.major else ua.family
    parts = []
    if result.device is not None and result.device.family not in ("Other", "Spider"):
        parts.append(result.device.family)
    if result.os is not None and result.os.family != "Other":
        parts.append(result.os.family)
    return browser, " · ".join(dict.fromkeys(parts)) or "Unknown device"
