from __future__ import annotations

from authflow.throttle.keys import ip_key, login_key, network_of, pair_key


def test_ipv6_addresses_count_by_their_64_bit_network() -> None:
    assert network_of("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert network_of("2001:db8:1:2:ffff:ffff:ffff:ffff") == "2001:db8:1:2::/64"
    assert network_of("2001:db8:1:3::1") == "2001:db8:1:3::/64"
    assert ip_key("login", "2001:db8:1:2::5") == ip_key("login", "2001:db8:1:2:9::9")


def test_ipv4_counts_by_address_also_when_mapped_into_ipv6() -> None:
    assert network_of("203.0.113.7") == "203.0.113.7"
    assert network_of("::ffff:203.0.113.7") == "203.0.113.7"
    assert ip_key("x", "203.0.113.7") != ip_key("x", "203.0.113.8")


def test_missing_or_garbage_addresses_share_one_bucket() -> None:
    assert network_of(None) == network_of("") == network_of("not-an-ip") == "unknown"


def test_login_names_compare_like_sign_in_does_and_are_stored_hashed() -> None:
    assert login_key("login", "Alice@Example.com") == login_key("login", "alice@example.com")
    assert login_key("login", "ＡＬＩＣＥ") == login_key("login", "alice")
    assert "alice" not in login_key("login", "alice")
    assert login_key("login", "alice") != login_key("token", "alice")
    assert pair_key("login", "203.0.113.7", "alice") != pair_key("login", "203.0.113.8", "alice")
    assert len(pair_key("login", "2001:db8::1", "x" * 1000)) <= 120
