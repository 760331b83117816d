"""The demo page `make run` opens: every image and link on it answers from the bundled samples."""

from __future__ import annotations

import re

import httpx

from tests.support.origin import OriginProcess


def test_every_url_on_the_demo_page_answers(origin: OriginProcess) -> None:
    page = httpx.get(origin.url("/"), timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    urls = set(re.findall(r'(?:href|src)="(/[^"]+)"', page.text))
    # srcset candidates end with ", " (URLs hold commas, never a comma and a space).
    urls |= {u.split()[0] for srcset in re.findall(r'srcset="([^"]+)"', page.text)
             for u in re.split(r",\s+", srcset.strip())}
    assert len(urls) >= 12, urls
    for url in sorted(urls):
        r = httpx.get(origin.url(url), timeout=30, headers={"Accept": "image/avif,*/*"})
        assert r.status_code == 200, (url, r.text[:200])
        assert r.headers["content-type"].startswith(
            ("image/", "application/json", "text/plain")), url
