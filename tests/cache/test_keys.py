"""Directory prefixes a purge by prefix can name, and the CDN tags that follow them."""

from __future__ import annotations

from cache.keys import prefix_tag, purge_prefixes, source_tag, surrogate_keys, watermark_tag


def test_purge_prefixes_of_relative_keys_and_absolute_urls() -> None:
    assert purge_prefixes("shop/x/b.jpg") == ["shop/", "shop/x/"]
    assert purge_prefixes("b.jpg") == []
    assert purge_prefixes("odd/a://b.jpg") == ["odd/", "odd/a:/", "odd/a://"]
    assert purge_prefixes("https://h.example/shop/x/b.jpg?v=1/2") == [
        "https://h.example/", "https://h.example/shop/", "https://h.example/shop/x/"]
    assert purge_prefixes("https://h.example") == []
    # The CDN tags follow the same prefixes, so a CDN purge by prefix reaches the same sources.
    source = "https://h.example/shop/b.jpg"
    assert surrogate_keys(source).split() == [
        source_tag(source), prefix_tag("https://h.example/"), prefix_tag("https://h.example/shop/")]


def test_a_watermark_adds_its_own_tag() -> None:
    plain = surrogate_keys("shop/b.jpg")
    marked = surrogate_keys("shop/b.jpg", "logo")
    assert marked == f"{plain} {watermark_tag('logo')}"
    assert watermark_tag("logo") != watermark_tag("stamp")
    assert watermark_tag("logo").startswith("w-")
    # Memoised answers are the same answers (a hit asks for them on every request).
    assert [surrogate_keys("shop/b.jpg", "logo") for _ in range(3)] == [marked] * 3
