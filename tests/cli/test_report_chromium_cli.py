"""bitsmith report as a person sees it: the page for stories260K (every section) and for
--params 70B, rendered by headless Chromium. Fails on any console message (the page's
Content-Security-Policy turns any request into one) or any reference to outside the page; takes
a screenshot and checks that every chart's area on it holds drawn data (coloured pixels, not just
background, axes and text). The detector is itself checked on a page with one external image.

Skips (exit 77) when Chromium is absent (Debian package `chromium`, scripts/setup.sh installs it).
Screenshots are kept in $BITSMITH_BINARY_DIR/test-output/report/ (or a temporary folder)."""
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest
import zlib

from clitest import SHARED, SKIP, main, run

MODEL = os.path.join(SHARED, "models", "stories260K", "stories260K.bin")
TOK = os.path.join(SHARED, "models", "stories260K", "tok512.bin")
TEXT = os.path.join(SHARED, "data", "wikitext2_test.txt")
CALIB = os.path.join(SHARED, "data", "tinyshakespeare.txt")
# Two of the recorded training runs of docs/train.md, for the training section.
TRAIN_DATA = os.path.join(os.environ.get("BITSMITH_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", "..")),
                          "docs", "data", "train")
CURVES = [os.path.join(TRAIN_DATA, f"ts_{r}.csv") for r in ("fp32", "nvfp4")]
WIDTH = 1400

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
if CHROMIUM is None:
    print("SKIP: no chromium on PATH (apt-get install chromium; scripts/setup.sh installs it)")
    sys.exit(SKIP)


def chromium(*args, url):
    """Runs headless Chromium on a file URL with no network: every host name resolves to nothing."""
    cmd = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
           "--host-resolver-rules=MAP * ~NOTFOUND", "--enable-logging=stderr", "--v=0", *args, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def console_lines(stderr):
    """Console messages (errors, CSP violations, failed loads) Chromium logged for the page."""
    return [l for l in stderr.splitlines() if ":CONSOLE" in l or "Content Security Policy" in l]


def outside_references(html):
    """Anything in the page that points outside it: URLs, src attributes, hrefs other than
    #fragments and data: links, CSS url() and @import."""
    found = re.findall(r"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}", html)
    found += re.findall(r"\ssrc\s*=", html)
    found += [h for h in re.findall(r'href="([^"]*)"', html) if not (h.startswith("#") or h.startswith("data:"))]
    found += re.findall(r"url\(|@import", html)
    return found


def read_png(path):
    """(width, height, rows of RGB tuples) of an 8-bit RGB/RGBA non-interlaced PNG (Chromium's)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def coloured_pixels(png, box):
    """Pixels of the box (every other row and column) that are saturated colour (data marks: the
    palette, the heatmap's ramp), as opposed to background, grid, axes and text, which are grey."""
    width, height, bpp, rows = png
    x0, y0 = max(0, int(box["x"])), max(0, int(box["y"]))
    x1, y1 = min(width, int(box["x"] + box["w"])), min(height, int(box["y"] + box["h"]))
    coloured = 0
    for y in range(y0, y1, 2):
        row = rows[y]
        for x in range(x0, x1, 2):
            r, g, b = row[x * bpp], row[x * bpp + 1], row[x * bpp + 2]
            coloured += max(r, g, b) - min(r, g, b) > 60
    return coloured


class ReportInChromium(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        binary = os.environ.get("BITSMITH_BINARY_DIR")
        cls.shots = os.path.join(binary, "test-output", "report") if binary else cls.tmp
        os.makedirs(cls.shots, exist_ok=True)
        compare = os.path.join(cls.tmp, "compare.json")
        with open(compare, "w") as f:
            f.write(run("compare", MODEL, "--tokenizer", TOK, "--text", TEXT, "--ctx", 128, "--max-chunks", 3,
                        "--schemes", "bf16,fp8_e4m3,int8,q8_0,int4_g32,nvfp4,q4_0", "--json").stdout)
        m = os.path.join(cls.tmp, "m.json")
        run("plan", MODEL, "--calib", CALIB, "--candidates", "q4_0,q5_0,q8_0", "--calib-samples", 2,
            "--calib-seqlen", 64, "-o", m)
        alloc = os.path.join(cls.tmp, "alloc.json")
        with open(alloc, "w") as f:
            f.write(run("plan", MODEL, "--measurements", m, "--target-bpw", "7.5", "--json").stdout)
        cls.pages = {
            "stories260K": [os.path.join(cls.tmp, "stories260K.html"), "--model", MODEL, "--tensor",
                            "blk.0.attn_q.weight", "--from", compare, "--from", m, "--from", alloc, "--from", CURVES[0],
                            "--from", CURVES[1]],
            "params-70B": [os.path.join(cls.tmp, "params-70B.html"), "--params", "70B"],
        }
        for args in cls.pages.values():
            run("report", *args)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def test_the_detector_catches_an_external_request(self):
        bad = os.path.join(self.tmp, "bad.html")
        with open(self.pages["params-70B"][0]) as f:
            page = f.read()
        with open(bad, "w") as f:
            f.write(page.replace("</body>", '<img alt="" src="https://example.com/pixel.png"></body>'))
        with open(bad) as f:
            self.assertTrue(outside_references(f.read()))
        p = chromium("--dump-dom", url="file://" + bad)
        self.assertTrue(console_lines(p.stderr), p.stderr[-2000:])

    def test_the_blank_check_catches_charts_without_data(self):
        # The same page with every data mark's colour class removed: axes and text stay, the
        # marks turn black; the check must call the charts blank.
        grey = os.path.join(self.tmp, "grey.html")
        with open(self.pages["params-70B"][0]) as f:
            page = f.read()
        with open(grey, "w") as f:
            f.write(re.sub(r'class="(ln )?(dash )?[fk]\d( edge)?"', 'class="gr"', page))
        with self.assertRaisesRegex(AssertionError, "looks blank"):
            self.check_page("grey", grey)

    def test_pages_render_without_requests_and_every_chart_is_drawn(self):
        for name, args in self.pages.items():
            with self.subTest(page=name):
                self.check_page(name, args[0])

    def check_page(self, name, path):
        with open(path) as f:
            html = f.read()
        self.assertEqual(outside_references(html), [])
        self.assertLess(len(html), 2_000_000)
        p = chromium("--dump-dom", url="file://" + path)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        self.assertEqual(console_lines(p.stderr), [])
        # Where each chart lands: a copy of the page with a script that writes the boxes into the
        # DOM (the page itself allows no script). The script goes after every chart, so the
        # layout above it is the page's own.
        probe = os.path.join(self.tmp, name + "-boxes.html")
        script = ("<pre id='boxes'></pre><script>document.getElementById('boxes').textContent=JSON.stringify("
                  "{height:document.documentElement.scrollHeight,charts:[...document.querySelectorAll('figure.chart')]"
                  ".map(f=>{const r=f.querySelector('.area').getBoundingClientRect();"
                  "return{id:f.id,x:r.x,y:r.y+scrollY,w:r.width,h:r.height}})})"
                  "</script>")
        with open(probe, "w") as f:
            f.write(html.replace("default-src 'none';", "default-src 'none'; script-src 'unsafe-inline';")
                    .replace("</body>", script + "</body>"))
        dom = chromium(f"--window-size={WIDTH},1000", "--dump-dom", url="file://" + probe).stdout
        boxes = json.loads(re.search(r"<pre id=\"boxes\">(.*?)</pre>", dom, re.S).group(1).replace("&quot;", '"'))
        self.assertEqual(len(boxes["charts"]), html.count('<figure id="chart-'))
        shot = os.path.join(self.shots if name in self.pages else self.tmp, name + ".png")
        p = chromium(f"--window-size={WIDTH},{boxes['height']}", f"--screenshot={shot}", url="file://" + path)
        self.assertTrue(os.path.exists(shot), p.stderr[-2000:])
        png = read_png(shot)
        for box in boxes["charts"]:
            # The plot area only (no title, no legend, whose markers are coloured too): a few
            # markers' worth of data at least. An empty plot has none: its axes and text are grey.
            self.assertGreater(box["w"] * box["h"], 10000, box)
            n = coloured_pixels(png, box)
            self.assertGreater(n, 30, f"{name}: {box['id']} looks blank ({n} coloured pixels sampled in its plot area)")
        if name == "stories260K":
            # Dark mode (prefers-color-scheme: dark) draws the same charts in other colours.
            dark = os.path.join(self.shots, name + "-dark.png")
            chromium("--force-dark-mode", f"--window-size={WIDTH},{boxes['height']}", f"--screenshot={dark}", url="file://" + path)
            png = read_png(dark)
            self.assertLess(sum(png[3][10][:3]), 3 * 80, "the page background is not dark")
            for box in boxes["charts"]:
                self.assertGreater(coloured_pixels(png, box), 30, f"{name} (dark): {box['id']} looks blank")
            shot += ", " + dark
        print(f"{name}: {path} ({len(html)} bytes), screenshot {shot}, {len(boxes['charts'])} charts drawn")


if __name__ == "__main__":
    main()
