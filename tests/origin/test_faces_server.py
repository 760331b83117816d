"""Face crops through the server: a portrait cut to a band around the face by `g_face`, the same
bytes from every worker, and thumbor's `smart` URL answering the same variant; a zoom to the face
(`facepad`) and Cloudinary's `c_thumb` answering it."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

import httpx
import pytest
import pyvips

from tests.support.origin import OriginProcess
from transforms.faces import detect

PORTRAIT = files("matplotlib") / "mpl-data" / "sample_data" / "grace_hopper.jpg"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OriginProcess]:
    folder: Path = tmp_path_factory.mktemp("faces")
    (folder / "portrait.jpg").write_bytes(PORTRAIT.read_bytes())
    with OriginProcess({"IMGORIGIN_SOURCE": str(folder), "IMGORIGIN_THUMBOR_PREFIX": "thumbor",
                        "IMGORIGIN_CLOUDINARY_PREFIX": "demo",
                        "IMGORIGIN_MEMORY_CACHE_MAX_BYTES": "0", "IMGORIGIN_DISK_CACHE": "off"},
                       workers=2) as origin:
        yield origin


def test_a_face_crop_through_the_server_is_the_band_around_the_face(
        server: OriginProcess) -> None:
    source = pyvips.Image.new_from_buffer(PORTRAIT.read_bytes(), "")
    answers = {httpx.get(server.url("/w_512,h_150,g_face,fmt_png/portrait.jpg"),
                         timeout=30).content for _ in range(6)}
    assert len(answers) == 1  # every worker, every time (nothing cached: each one transformed)
    band = pyvips.Image.new_from_buffer(answers.pop(), "")
    # Row 115: where thumbor's smart crop starts on this portrait (tests/transforms/test_faces.py).
    assert (band - source.extract_area(0, 115, 512, 150)).abs().max() == 0
    thumbor = httpx.get(server.url("/thumbor/unsafe/512x150/smart/filters:format(png)/"
                                   "portrait.jpg"), timeout=30)
    assert thumbor.status_code == 200
    assert (pyvips.Image.new_from_buffer(thumbor.content, "") - band).abs().max() == 0


def test_a_face_crop_of_an_animation_is_the_centre(server: OriginProcess) -> None:
    spinner = Path(__file__).resolve().parents[2] / "samples" / "spinner.gif"
    folder = Path(server.env["IMGORIGIN_SOURCE"])
    (folder / "spinner.gif").write_bytes(spinner.read_bytes())
    faces = httpx.get(server.url("/w_40,h_20,g_faces/spinner.gif"), timeout=30)
    centre = httpx.get(server.url("/w_40,h_20/spinner.gif"), timeout=30)
    assert faces.status_code == centre.status_code == 200
    assert faces.content == centre.content


def test_cloudinary_c_thumb_is_the_zoom_to_the_face(server: OriginProcess) -> None:
    native = "/enlarge,facepad_2,g_face,h_150,w_150,fmt_jpeg/portrait.jpg"
    answers = {httpx.get(server.url(native), timeout=30).content for _ in range(6)}
    assert len(answers) == 1  # every worker transformed it to the same bytes
    thumb = httpx.get(server.url("/demo/image/upload/c_thumb,g_face,w_150,h_150/portrait.jpg"),
                      timeout=30)
    assert thumb.status_code == 200
    assert thumb.content == next(iter(answers))
    assert thumb.headers["etag"] == httpx.get(server.url(native), timeout=30).headers["etag"]
    image = pyvips.Image.new_from_buffer(thumb.content, "")
    (face,) = detect(image)
    assert (image.width, image.height) == (150, 150)
    assert abs(face.left + face.width / 2 - 75) <= 6 and face.width > 150 * 0.4
    refused = httpx.get(server.url("/demo/image/upload/c_thumb,g_face,w_150,h_150,z_9/"
                                   "portrait.jpg"), timeout=30)
    assert refused.status_code == 400 and "z_" in refused.json()["detail"]
