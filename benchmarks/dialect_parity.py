"""`make parity`: the thumbor and ipx URL dialects against the real thumbor and ipx.

Installs the peers as `make bench-peers` does (benchmarks/.peers, never into our venv), serves the
same images from thumbor, ipx and imgorigin (with IMGORIGIN_THUMBOR_PREFIX and
IMGORIGIN_IPX_PREFIX), requests each case from the peer and from imgorigin under the prefix, and
compares what comes back: format, size, and how far the pixels are apart (mean absolute
difference of the 8-bit sRGB values, alpha flattened on white). Different resamplers and
encoders keep that small; a wrong crop, gravity, flip or padding does not. Prints a table, writes
benchmarks/results/parity-*.json, and exits 1 when a case differs. Not part of `make test` (it
downloads thumbor and ipx). imgproxy is not here: it has no package in the registries this
machine reaches.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from importlib.resources import files
from pathlib import Path

import httpx
import pyvips

from benchmarks.peers import (
    PeerUnavailable,
    install_ipx,
    install_thumbor,
    ipx_server,
    thumbor_server,
)
from benchmarks.report import RESULTS_DIR
from benchmarks.servers import REPO, OriginProcess

# Above this mean absolute difference (0..255) two answers are not the same picture. Resampling
# differences between Pillow, sharp and libvips stay within a few levels on these images.
SAME_PICTURE = 6.0

THUMBOR_CASES = [
    "300x200/landscape.jpg",
    "300x200/left/top/portrait.jpg",
    "300x200/bottom/portrait.jpg",
    "200x300/right/landscape.jpg",
    "200x300/left/landscape.jpg",
    # thumbor runs here with its face detector only: where it finds no face its smart is the
    # centre, imgorigin's libvips' attention crop: this case shows that difference, it is not
    # expected to match.
    "300x300/smart/landscape.jpg",
    # Where there is a face, both centre on it with thumbor's cascade, settings and arithmetic:
    # the same pixels where both detect at the same size (a portrait in a band of its width).
    "512x150/smart/face.jpg",
    # A face off the centre of a 1200x600 picture: thumbor detects at 1200 px, imgorigin on the
    # covering resize (600 px), and the boxes found differ by a few pixels; the crop lands 1-2 px
    # apart (13.5 and 12 columns in), which this metric counts as different (~15 levels on this
    # detailed photo). Not expected to match.
    "300x300/smart/faceleft.jpg",
    "300x0/landscape.jpg",
    "0x150/portrait.jpg",
    "fit-in/300x300/landscape.jpg",
    "fit-in/300x300/portrait.jpg",
    "full-fit-in/300x300/landscape.jpg",
    "adaptive-fit-in/300x200/portrait.jpg",
    "adaptive-fit-in/300x200/filters:fill(ff0000):format(png)/portrait.jpg",
    "adaptive-full-fit-in/200x300/landscape.jpg",
    "fit-in/300x300/filters:fill(ff0000):format(png)/landscape.jpg",
    "80x60/small.png",
    "80x60/filters:no_upscale()/small.png",
    "fit-in/80x60/small.png",
    "fit-in/80x60/filters:upscale()/small.png",
    "-300x200/landscape.jpg",
    "300x-200/landscape.jpg",
    "100x50:900x650/200x0/landscape.jpg",
    "300x0/filters:format(webp):quality(70)/landscape.jpg",
    "300x0/filters:grayscale()/landscape.jpg",
    "300x0/filters:blur(4)/landscape.jpg",
    "300x200/filters:rotate(90)/landscape.jpg",
    "80x30/top/filters:rotate(90)/small.png",
    "-80x30/bottom/filters:rotate(270)/small.png",
    "60x-40/left/filters:rotate(180)/small.png",
    "fit-in/300x100/filters:rotate(90)/portrait.jpg",
    "10x5:30x25/filters:rotate(-90)/small.png",
    "trim/framed.png",
    "trim:top-left:20/fit-in/100x100/framed.png",
    # corners.png: the top-left pixel black (its first row), the bottom-right red (the frame).
    "trim/corners.png",
    "trim:bottom-right/corners.png",
    "300x200/filters:fill(ff0000)/landscape.jpg",
    "fit-in/300x300/filters:fill(ff0000):format(png)/small.png",
    "fit-in/100x100/filters:fill(00ff00)/portrait.jpg",
    # A CSS colour name, as thumbor's Pillow reads it.
    "fit-in/300x300/filters:fill(orange):format(png)/small.png",
    "fit-in/100x100/filters:fill(DarkSlateBlue)/portrait.jpg",
    "300x0/filters:quality(40)/landscape.jpg",
    # focal(): a crop centred on the region's centre (in source pixels), not on the alignment.
    "300x300/filters:focal(900x300:1100x500)/landscape.jpg",
    "300x200/filters:focal(400x300:600x500)/portrait.jpg",
    "100x50:900x650/300x100/filters:focal(400x550:600x650)/landscape.jpg",
    "300x300/filters:focal(900x300:1100x500):rotate(90)/landscape.jpg",
    "300x0/filters:brightness(20)/landscape.jpg",
    "300x0/filters:contrast(30)/landscape.jpg",
    "300x0/filters:contrast(-40)/landscape.jpg",
    "300x0/filters:brightness(-10):contrast(20)/landscape.jpg",
    "300x200/filters:round_corner(40,255,0,0)/landscape.jpg",
    "200x200/filters:round_corner(100,0,0,0,1):format(png)/landscape.jpg",
    # fill(blur): the fitted image blurred (sigma 50) and stretched to the box behind it.
    "fit-in/300x300/filters:fill(blur)/landscape.jpg",
    "fit-in/200x300/filters:fill(blur)/landscape.jpg",
    "fit-in/300x100/filters:fill(blur)/portrait.jpg",
    # fill(auto): the fitted image's mean colour.
    "fit-in/300x300/filters:fill(auto)/landscape.jpg",
    "fit-in/300x100/filters:fill(auto)/portrait.jpg",
    # mark.png is imgorigin's watermark `mark` (IMGORIGIN_WATERMARKS) and thumbor's file.
    "300x200/filters:watermark(mark.png,-10,-10,0)/landscape.jpg",
    "300x200/filters:watermark(mark.png,10,center,50)/landscape.jpg",
    # Percentages of the image's side, as native margins that are shares of the output's.
    "300x200/filters:watermark(mark.png,10p,-12p,0)/landscape.jpg",
    "250x200/filters:watermark(mark.png,-25p,center,20)/landscape.jpg",
    "300x0/filters:watermark(mark.png,center,-0,30,40)/landscape.jpg",
    "300x200/filters:watermark(mark.png,-0,12,0):format(png)/landscape.jpg",
    # h_ratio, alone and with w_ratio (the mark fits inside both).
    "300x200/filters:watermark(mark.png,-10,-10,0,none,25)/landscape.jpg",
    "300x200/filters:watermark(mark.png,10,10,0,30,10)/landscape.jpg",
    # repeat,repeat: whole copies spread from edge to edge (imgorigin's `spread`), the
    # leftover room as gaps; under two copies' room, 10 px; past 100 copies, six each way.
    "300x200/filters:watermark(mark.png,repeat,repeat,0)/landscape.jpg",
    # thumbor subtracts alpha from each pixel's alpha, imgorigin multiplies it: the mark's
    # half-transparent half differs (docs/thumbor.md, Known differences), not expected to match.
    "200x150/filters:watermark(mark.png,repeat,repeat,30)/landscape.jpg",
    "100x50/filters:watermark(mark.png,repeat,repeat,0):format(png)/landscape.jpg",
    "800x450/filters:watermark(mark.png,repeat,repeat,0)/landscape.jpg",
    # repeat along one axis: a row (column) of copies where one copy's y (x) puts it.
    "300x200/filters:watermark(mark.png,repeat,-10,0)/landscape.jpg",
    "300x200/filters:watermark(mark.png,20,repeat,0)/landscape.jpg",
    "300x200/filters:watermark(mark.png,repeat,center,0):format(png)/landscape.jpg",
    "300x200/filters:watermark(mark.png,center,repeat,0,10)/landscape.jpg",
    "120x40/filters:watermark(mark.png,repeat,5p,0)/landscape.jpg",
    # proportion(): the finished image shrunk by the factor (imgorigin: its size, or `zoom`);
    # thumbor ignores a factor above 1.
    "300x200/filters:proportion(0.5)/landscape.jpg",
    "fit-in/300x300/filters:proportion(0.5)/portrait.jpg",
    "300x0/filters:proportion(1.5)/landscape.jpg",
    "filters:proportion(0.25)/landscape.jpg",
    "filters:proportion(2)/small.png",
    # stretch(): resized to the box, no crop.
    "300x100/filters:stretch()/landscape.jpg",
    "100x300/filters:stretch()/portrait.jpg",
    "120x40/filters:stretch():no_upscale()/small.png",
    # equalize(): each band's histogram equalised, a photo and a greyed portrait; on four flat
    # colours thumbor subtracts the darkest level's count in the blue band only (its loop stops
    # at the first level any band has), imgorigin in each band: not expected to match.
    "300x200/filters:equalize()/landscape.jpg",
    "fit-in/300x300/filters:grayscale():equalize()/portrait.jpg",
    "fit-in/80x60/filters:equalize():format(png)/small.png",
    # sharpen(): thumbor's wavelet sharpen, per band and on luma only, a strong one, one after
    # brightness() (the clipped highlights), one around a fill.
    "300x200/filters:sharpen(2,1,false)/landscape.jpg",
    "300x200/filters:sharpen(1.5,0.5,true)/landscape.jpg",
    "300x200/filters:sharpen(8,2,true):format(png)/landscape.jpg",
    "300x200/filters:brightness(30):sharpen(3,1,false)/landscape.jpg",
    "fit-in/300x300/filters:fill(ff0000):sharpen(4,1,true):format(png)/landscape.jpg",
    "fit-in/80x60/filters:sharpen(5,0,false):format(png)/small.png",
    # rgb(): a shift per band (after brightness(), scaled by a contrast() after it).
    "300x200/filters:rgb(20,-10,0)/landscape.jpg",
    "300x200/filters:brightness(-10):rgb(-20,0,-30)/landscape.jpg",
    "300x200/filters:rgb(20,0,10):contrast(20)/landscape.jpg",
    "fit-in/80x60/filters:rgb(300,0,-50):format(png)/small.png",
    # saturation(): thumbor's perceived-brightness grey, then the adjustments after it.
    "300x200/filters:saturation(1.8)/landscape.jpg",
    "300x200/filters:saturation(0.3):format(png)/landscape.jpg",
    "fit-in/300x300/filters:saturation(2.5):brightness(10):contrast(10)/portrait.jpg",
    "fit-in/80x60/filters:saturation(3):format(png)/small.png",
    "300x200/filters:saturation(-1):format(png)/landscape.jpg",  # colours through the grey
    # convolution(): a blur, an edge detector and a lopsided kernel, each band, edges repeated.
    "300x200/filters:convolution(1;2;1;2;4;2;1;2;1,3,true)/landscape.jpg",
    "300x200/filters:convolution(-1;-1;-1;-1;8;-1;-1;-1;-1,3,false):format(png)/landscape.jpg",
    "fit-in/80x60/filters:convolution(1;0;0;0;2;0;0;0;0;0;0;0;1;0;0,5,true):format(png)/small.png",
    # curve(): thumbor's own docstring example (a warm, faded look), one band lifted, a curve
    # after saturation() and brightness(), and one on a grey image (which turns colour).
    "300x200/filters:curve([(0,0),(40,59),(255,255)],[(32,59),(64,80),(92,111),(128,153),"
    "(140,169),(164,201),(192,214),(224,215),(240,214),(255,212)],[(34,41),(64,51),(92,76),"
    "(128,112),(140,124),(164,147),(192,180),(224,216),(240,236),(255,255)],[(40,46),(64,55),"
    "(92,83),(128,127),(140,144),(164,174),(192,197),(224,199),(240,197),(255,198)])"
    "/landscape.jpg",
    "300x200/filters:curve([(0,0),(255,255)],[(0,0),(255,255)],[(0,0),(128,90),(255,255)],"
    "[(0,0),(255,255)]):format(png)/landscape.jpg",
    "fit-in/300x300/filters:saturation(1.5):brightness(10):curve([(0,20),(128,140),(255,235)],"
    "[(0,0),(255,255)],[(0,0),(255,255)],[(0,0),(255,255)])/portrait.jpg",
    "fit-in/300x300/filters:grayscale():curve([(0,0),(255,255)],[(0,40),(255,255)],"
    "[(0,0),(255,255)],[(0,0),(255,215)]):format(png)/portrait.jpg",
    # colorize(): each band part of the way to a colour (truncated), on the photo, to PNG on
    # the four-colour image, on a greyed portrait (which turns colour) and before curve().
    "300x200/filters:colorize(30,10,60,ff8800)/landscape.jpg",
    "fit-in/80x60/filters:colorize(100,0,25,00ff7f):format(png)/small.png",
    "fit-in/300x300/filters:grayscale():colorize(0,20,40,3366cc):format(png)/portrait.jpg",
    "300x200/filters:colorize(20,20,20,000000):curve([(0,20),(128,140),(255,235)],"
    "[(0,0),(255,255)],[(0,0),(255,255)],[(0,0),(255,255)])/landscape.jpg",
]
IPX_CASES = [
    "w_300/landscape.jpg",
    "h_150/portrait.jpg",
    "s_300x200/landscape.jpg",
    "s_300x200,fit_inside/landscape.jpg",
    "s_300x300,fit_contain,f_png/landscape.jpg",
    "s_300x300,fit_contain,b_ff0000,f_png/landscape.jpg",
    "s_300x300,fit_fill/landscape.jpg",
    "s_300x200,pos_top/portrait.jpg",
    "s_300x200,pos_right%20bottom/landscape.jpg",
    "h_100&w_300/landscape.jpg",
    "s_300x300&w_120/landscape.jpg",
    "s_80x60/small.png",
    "s_80x60,enlarge/small.png",
    "w_80/small.png",
    "extract_100_50_800_600,w_200/landscape.jpg",
    "s_200x100,extend_10_20_30_40,b_00ff00,f_png/landscape.jpg",
    "rotate_90,s_200x100/landscape.jpg",
    "flip,flop,w_200/landscape.jpg",
    "w_300,f_webp,q_70/landscape.jpg",
    "w_300,grayscale/landscape.jpg",
    "w_300,blur_4/landscape.jpg",
    "s_300x300,fit_contain,f_png/small.png",
    "s_100x100,fit_outside/landscape.jpg",
    "s_100x100,pos_entropy/landscape.jpg",
    "s_100x100,pos_attention/portrait.jpg",
    "w_300,sharpen_2/landscape.jpg",
    "w_300,q_40/landscape.jpg",
    "w_300,tint_%2300dc82/landscape.jpg",
    "w_300,tint_%23e04000,f_png/landscape.jpg",
    # sharp greys the tinted image again, remapping the grey levels through the tint's table;
    # imgorigin answers the plain grey (docs/ipx.md): not expected to match.
    "w_300,grayscale,tint_%23ff0000/landscape.jpg",
    "w_300,negate/landscape.jpg",
    "s_300x300,fit_contain,b_ff0000,negate,f_png/landscape.jpg",
    "w_300,normalize/landscape.jpg",
    "normalize,f_png/small.png",
    "flatten,f_png/clear.png",
    "flatten,b_00ff00,w_70,f_png/clear.png",
    # Not `modulate`: ipx 3.1.1 answers every one with 500 (docs/ipx.md).
    "w_300,median_5/landscape.jpg",
    "w_300,median_9/landscape.jpg",
    # kernel: with `s` only (ipx hands it to sharp for `resize`, not for `w`/`h`); nearest on
    # the 40x30 quadrants enlarged keeps hard edges that lanczos3 rings around.
    "s_300x200,kernel_nearest/landscape.jpg",
    "s_300x200,kernel_cubic/landscape.jpg",
    "s_300x200,kernel_linear,f_png/landscape.jpg",
    "s_120x90,kernel_nearest,enlarge,f_png/small.png",
    "s_70x50,kernel_mitchell,enlarge,f_png/small.png",
    "w_300,kernel_nearest/landscape.jpg",
    # gamma: the resize between sharp's gamma encode and decode; threshold: grey, cut at T.
    # (ipx 3.1.1 answers 500 to a bare `gamma` or `threshold`, which the translation reads as
    # sharp's defaults, 2.2 and 128.)
    "w_300,gamma_2.2/landscape.jpg",
    "w_300,gamma_2.2_1.5/landscape.jpg",
    "s_100x100,gamma_3,f_png/clear.png",
    "w_300,threshold_128/landscape.jpg",
    "w_300,threshold_90,f_png/landscape.jpg",
    # No trim case: ipx 3.1.1 hands sharp 0.34 a number where its trim now takes an object and
    # answers 500 (seen 2026-12-06). sharp's own trim({threshold: 10}) on framed.png and
    # clear.png gives 100x75 at offset 20,30, as imgorigin's trim_10 does.
]


@dataclass
class Outcome:
    dialect: str
    path: str
    peer: str  # "webp 300x200" or the error
    ours: str
    difference: float | None  # mean absolute difference when both decode at the same size
    same: bool


def make_images(folder: Path) -> None:
    """A landscape photo, a portrait cut of it, a small image with distinct corners, three
    framed ones for trim, and a face (matplotlib's public-domain sample portrait), alone and
    at the left of a wide picture."""
    folder.mkdir(parents=True, exist_ok=True)
    face = files("matplotlib") / "mpl-data" / "sample_data" / "grace_hopper.jpg"
    (folder / "face.jpg").write_bytes(face.read_bytes())
    person = pyvips.Image.new_from_file(str(folder / "face.jpg"))
    person.embed(60, 0, 1200, 600, extend="copy").write_to_file(str(folder / "faceleft.jpg"),
                                                                 Q=92)
    shutil.copy(REPO / "samples" / "landscape.jpg", folder / "landscape.jpg")
    photo = pyvips.Image.new_from_file(str(folder / "landscape.jpg"))
    photo.crop(700, 0, 1000, 1500).write_to_file(str(folder / "portrait.jpg"), Q=90)
    # 40x30 with a different colour in each quadrant, so a crop or flip shows.
    quadrants = [pyvips.Image.black(20, 15) + [r, g, b]
                 for r, g, b in ((230, 40, 40), (40, 200, 40), (40, 40, 220), (240, 220, 30))]
    small = pyvips.Image.arrayjoin(quadrants, across=2).cast("uchar").copy(
        interpretation="srgb")
    small.write_to_file(str(folder / "small.png"))
    # A border that is neither white nor transparent, and a transparent one over two colours:
    # what trim takes for the background.
    inner = small.resize(2.5, kernel="nearest")  # 100x75
    framed = inner.embed(20, 30, 140, 130, extend="background", background=[150, 20, 60])
    framed.write_to_file(str(folder / "framed.png"))
    clear = (pyvips.Image.black(140, 130) + [250, 20, 20, 0]).cast("uchar")
    clear = clear.insert((pyvips.Image.black(20, 20) + [0, 0, 255, 0]).cast("uchar"), 110, 0)
    opaque = inner.bandjoin(255).cast("uchar")
    clear.insert(opaque, 20, 30).copy(interpretation="srgb").write_to_file(
        str(folder / "clear.png"))
    # Which corner trim reads: a black first row over a red frame.
    corners = inner.embed(20, 30, 140, 130, extend="background", background=[200, 20, 20])
    corners = corners.insert(pyvips.Image.black(140, 1, bands=3), 0, 0)
    corners.cast("uchar").copy(interpretation="srgb").write_to_file(str(folder / "corners.png"))
    # A watermark: opaque yellow beside half-transparent magenta.
    mark = (pyvips.Image.black(30, 30) + [250, 220, 0, 255]).join(
        pyvips.Image.black(30, 30) + [200, 0, 200, 128], "horizontal")
    mark.cast("uchar").copy(interpretation="srgb").write_to_file(str(folder / "mark.png"))


def _describe(data: bytes) -> tuple[str, pyvips.Image]:
    image = pyvips.Image.new_from_buffer(data, "")
    loader = image.get("vips-loader").removesuffix("_buffer").removesuffix("load")
    if loader == "heif":
        loader = "avif"
    return f"{loader} {image.width}x{image.height}", image


def _rgb(image: pyvips.Image) -> pyvips.Image:
    image = image.colourspace("srgb") if image.interpretation != "srgb" else image
    if image.hasalpha():
        image = image.flatten(background=[255, 255, 255])
    if image.bands == 1:
        image = image.bandjoin([image, image])
    return image.extract_band(0, n=3).cast("uchar")


def compare(dialect: str, path: str, peer_base: str, ours_url: str) -> Outcome:
    answers = []
    for url in (peer_base + path, ours_url):
        r = httpx.get(url, headers={"Accept": "image/webp,image/*"}, timeout=60)
        if r.status_code != 200:
            answers.append((f"HTTP {r.status_code}", None))
            continue
        answers.append(_describe(r.content))
    (peer_text, peer_image), (our_text, our_image) = answers
    difference = None
    if peer_image is not None and our_image is not None and \
            (peer_image.width, peer_image.height) == (our_image.width, our_image.height):
        difference = round(abs(_rgb(peer_image) - _rgb(our_image)).avg(), 2)
    same = peer_text == our_text and difference is not None and difference <= SAME_PICTURE
    return Outcome(dialect, path, peer_text, our_text, difference, same)


def main() -> int:
    outcomes: list[Outcome] = []
    only = os.environ.get("PARITY_ONLY", "")  # a substring: only the cases that contain it
    with tempfile.TemporaryDirectory(prefix="imgorigin-parity-") as tmp:
        images = Path(tmp) / "images"
        make_images(images)
        env = {"IMGORIGIN_SOURCE": str(images), "IMGORIGIN_THUMBOR_PREFIX": "thumbor",
               "IMGORIGIN_WATERMARKS": f"mark:{images / 'mark.png'}",
               "IMGORIGIN_IPX_PREFIX": "_ipx", "IMGORIGIN_MEMORY_CACHE_MAX_BYTES": "0"}
        with OriginProcess(env=env, workers=1) as ours:
            for dialect, install, start, cases, prefix in (
                ("thumbor", install_thumbor, thumbor_server, THUMBOR_CASES, "/unsafe/"),
                ("ipx", install_ipx, ipx_server, IPX_CASES, "/"),
            ):
                try:
                    version = install()
                    server = start(images, Path(tmp), 1)
                    if dialect == "ipx":  # its bench ready path names the bench's images
                        server.ready_path = "/w_10/landscape.jpg"
                    server.start()
                except PeerUnavailable as exc:
                    print(f"{dialect}: not run: {exc}", file=sys.stderr)
                    continue
                print(f"{dialect}: {version}")
                try:
                    for case in cases:
                        if only and only not in case:
                            continue
                        ours_url = ours.base + (f"/thumbor/unsafe/{case}" if dialect == "thumbor"
                                                else f"/_ipx/{case}")
                        outcomes.append(compare(dialect, prefix + case, server.base, ours_url))
                finally:
                    server.stop()
    print("\n| dialect | path | peer | imgorigin | mean abs. difference | same |")
    print("|---|---|---|---|---|---|")
    for o in outcomes:
        diff = "-" if o.difference is None else f"{o.difference:.2f}"
        print(f"| {o.dialect} | `{o.path}` | {o.peer} | {o.ours} | {diff} | "
              f"{'yes' if o.same else '**no**'} |")
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"parity-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps([asdict(o) for o in outcomes], indent=2) + "\n")
    differing = sum(not o.same for o in outcomes)
    print(f"\n{len(outcomes) - differing} of {len(outcomes)} the same; wrote {out}")
    return 1 if differing or not outcomes else 0


if __name__ == "__main__":
    sys.exit(main())
