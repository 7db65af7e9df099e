"""bitsmith report: the page and its SVGs parse, every chart has its file, the embedded documents
are the ones the commands print (error, advise, memory computed by the report equal the commands'
own output; --from documents embedded unchanged), sections follow the data, and bad input gives
one line and exit status 1 or 2 without touching any file. The training section draws train's
recorded loss curves (docs/data/train) with the values of the CSV files."""
import base64
import csv
import json
import os
import re
import shutil
import tempfile
import unittest
import xml.etree.ElementTree as ET

from clitest import SHARED, main, run

MODEL = os.path.join(SHARED, "models", "stories260K", "stories260K.bin")
TOK = os.path.join(SHARED, "models", "stories260K", "tok512.bin")
TEXT = os.path.join(SHARED, "data", "wikitext2_test.txt")
CALIB = os.path.join(SHARED, "data", "tinyshakespeare.txt")
SCHEMES = "bf16,fp8_e4m3,int8,q8_0,int4_g32,nvfp4"
SVG_NS = "{http://www.w3.org/2000/svg}"
TRAIN_DATA = os.path.join(os.environ.get("BITSMITH_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", "..")),
                          "docs", "data", "train")


def embedded(page):
    """The documents the page embeds: {download name: parsed JSON}."""
    docs = {}
    for name, b64 in re.findall(r'<a download="([^"]+)" href="data:application/json;base64,([A-Za-z0-9+/=]+)"', page):
        docs[name] = json.loads(base64.b64decode(b64))
    return docs


def figures(page):
    return re.findall(r'<figure id="chart-([^"]+)"', page)


class ReportCli(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp()
        cls.compare = os.path.join(cls.dir, "compare.json")
        with open(cls.compare, "w") as f:
            f.write(run("compare", MODEL, "--tokenizer", TOK, "--text", TEXT, "--ctx", 128, "--max-chunks", 3,
                        "--schemes", SCHEMES, "--json").stdout)
        cls.m = os.path.join(cls.dir, "m.json")
        run("plan", MODEL, "--calib", CALIB, "--candidates", "q4_0,q5_0,q8_0", "--calib-samples", 2,
            "--calib-seqlen", 64, "-o", cls.m)
        cls.alloc = os.path.join(cls.dir, "alloc.json")
        with open(cls.alloc, "w") as f:
            f.write(run("plan", MODEL, "--measurements", cls.m, "--target-bpw", "7.5", "--json").stdout)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir)

    def page(self, *args, svg_dir=None):
        out = os.path.join(self.dir, "page.html")
        extra = ["--svg-dir", svg_dir] if svg_dir else []
        p = run("report", out, *args, *extra)
        self.assertIn("wrote " + out, p.stdout)
        with open(out) as f:
            return f.read()

    def test_default_page_is_the_labs_error_and_every_svg_parses(self):
        svgs = os.path.join(self.dir, "svg-default")
        page = self.page(svg_dir=svgs)
        self.assertIn("default-src 'none'", page)
        ids = figures(page)
        self.assertEqual(sorted(ids), sorted(f[:-4] for f in os.listdir(svgs)))
        for name in os.listdir(svgs):
            root = ET.parse(os.path.join(svgs, name)).getroot()
            self.assertEqual(root.tag, SVG_NS + "svg", name)
            self.assertTrue(root.findall(f".//{SVG_NS}text"), name)  # titled, labelled axes
        # The embedded error document is what `bitsmith error` prints for the same schemes and bins.
        docs = embedded(page)
        self.assertEqual(list(docs), ["error-1.json"])
        err = docs["error-1.json"]
        schemes = [r["scheme"] for r in err["results"]]
        expect = json.loads(run("error", "--scheme", ",".join(schemes), "--histogram", 60, "--json").stdout)
        self.assertEqual(err, expect)
        for s in schemes:
            self.assertIn(f"error-hist-{s}", ids)

    def test_from_documents_draws_quality_and_sensitivity_and_embeds_them_unchanged(self):
        page = self.page("--from", self.compare, "--from", self.m, "--from", self.alloc,
                         "--sections", "quality,sensitivity")
        ids = figures(page)
        self.assertEqual(ids, ["quality-kld", "quality-ppl", "sensitivity-heatmap"])
        docs = embedded(page)
        with open(self.compare) as f:
            self.assertEqual(docs["compare-1.json"], json.load(f))
        with open(self.m) as f:
            self.assertEqual(docs["plan-measurements-2.json"], json.load(f))
        # Every compared scheme is a labelled point; the chosen mix is written in the heatmap.
        kld = page[page.index('id="chart-quality-kld"'):page.index('id="chart-quality-ppl"')]
        for s in SCHEMES.split(","):
            self.assertIn(f">{s}<", kld)
        with open(self.alloc) as f:
            chosen = {t["name"]: t["scheme"] for t in json.load(f)["allocation"]["tensors"]}
        heat = page[page.index('id="chart-sensitivity-heatmap"'):]
        self.assertIn(f">{chosen['blk.0.attn_q.weight']}<", heat)

    def test_model_text_runs_compare_itself(self):
        # --model --text: the report runs compare (eval::compare_schemes) and draws and embeds the
        # very document `compare --json` prints.
        page = self.page("--model", MODEL, "--tokenizer", TOK, "--text", TEXT, "--ctx", 128, "--max-chunks", 3,
                         "--schemes", SCHEMES, "--sections", "quality")
        self.assertEqual(figures(page), ["quality-kld", "quality-ppl"])
        computed = [d for n, d in embedded(page).items() if n.startswith("compare")]
        self.assertEqual(len(computed), 1)
        with open(self.compare) as f:
            given = json.load(f)
        for doc in (computed[0], given):
            doc.pop("tokens_per_second")
        self.assertEqual(computed[0], given)
        p = run("report", os.path.join(self.dir, "x.html"), "--text", TEXT, check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--text is what compare scores --model on", p.stderr)

    def test_params_memory_is_the_advisors_document(self):
        page = self.page("--params", "70B", "--sections", "memory", "--schemes", "bf16,fp8_e4m3,q4_k")
        docs = embedded(page)
        advice = json.loads(run("advise", "--params", "70B", "--device", "dgx-spark", "--schemes",
                                "bf16,fp8_e4m3,q4_k", "--json").stdout)
        self.assertEqual(docs["advise-2.json"], advice)
        memory = json.loads(run("memory", "--params", "70B", "--schemes", "bf16,fp8_e4m3,q4_k", "--json").stdout)
        self.assertEqual(docs["memory-1.json"], memory)
        self.assertIn("dgx-spark 128 GB", page)  # 140 GB of bf16 weights: the 128 GB line is drawn

    def test_model_tensor_feeds_error_and_memory(self):
        page = self.page("--model", MODEL, "--tensor", "blk.1.attn_q.weight", "--schemes", "q8_0,int8,fp8_e4m3",
                         "--sections", "error,memory")
        docs = embedded(page)
        self.assertEqual(docs["error-1.json"]["input"]["tensor"], "blk.1.attn_q.weight")
        self.assertEqual([r["scheme"] for r in docs["memory-2.json"]["results"]], ["q8_0", "int8", "fp8_e4m3"])
        self.assertIn("memory-footprint", figures(page))

    def test_npy_input_is_errors_own_document(self):
        np = __import__("numpy")
        x = os.path.join(self.dir, "w.npy")
        np.save(x, np.random.default_rng(3).standard_normal((32, 256)).astype(np.float32))
        page = self.page("--input", x, "--schemes", "int8,nvfp4,q4_0", "--sections", "error", "--histogram", 20)
        doc = embedded(page)["error-1.json"]
        expect = json.loads(run("error", "--input", x, "--scheme", "int8,nvfp4,q4_0", "--histogram", 20, "--json").stdout)
        self.assertEqual(doc, expect)
        self.assertEqual(len(doc["results"][0]["abs_histogram"]["counts"]), 20)
        self.assertEqual(figures(page), ["error-hist-int8", "error-hist-nvfp4", "error-hist-q4_0", "error-snr", "error-bpw",
                                         "error-lab"])

    def test_bad_input(self):
        out = os.path.join(self.dir, "bad.html")
        junk = os.path.join(self.dir, "formats.json")
        with open(junk, "w") as f:
            f.write(run("formats", "--json").stdout)
        cases = [
            (["--from", junk], 1, "not a document the report reads"),
            (["--from", os.path.join(self.dir, "missing.json")], 1, "missing.json"),
            (["--from", self.compare, "--sections", "numbers"], 2, "leaves out"),
            (["--sections", "quality"], 2, "quality section has nothing to draw"),
            (["--sections", "colours"], 2, "unknown section"),
            (["--tensor", "blk.0.attn_q.weight"], 2, "--model"),
            (["--device", "h100"], 2, "--params or --model"),
            (["--params", "7B", "--model", MODEL], 2, "not both"),
            (["--schemes", "q4_k_m"], 2, "q4_k_m"),
            (["--probe", "2", "--sections", "error"], 2, "numbers section"),
        ]
        for args, status, words in cases:
            p = run("report", out, *args, check=False)
            self.assertEqual(p.returncode, status, (args, p.stderr))
            self.assertIn(words, p.stderr, args)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, (args, p.stderr))
            self.assertFalse(os.path.exists(out), args)
        p = run("report", os.path.join(self.dir, "page.txt"), check=False)
        self.assertEqual(p.returncode, 2)
        # The page never replaces an input, even one named like a page.
        disguised = os.path.join(self.dir, "compare.html")
        shutil.copy(self.compare, disguised)
        p = run("report", disguised, "--from", disguised, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        with open(disguised) as a, open(self.compare) as b:
            self.assertEqual(a.read(), b.read())


def csv_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def data_lines(svg_path, cls):
    """The vertices of every <path> of class `cls` in an SVG file: [[(x, y), ...], ...]."""
    lines = []
    for p in ET.parse(svg_path).getroot().iter(SVG_NS + "path"):
        if p.get("class") == cls:
            lines.append([tuple(map(float, v.split())) for v in re.split("[ML]", p.get("d")) if v.strip()])
    return lines


class ReportTraining(unittest.TestCase):
    """The training section from two of the recorded runs of docs/train.md (tinyshakespeare, 400 updates)."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir)

    def test_two_recorded_runs_are_drawn_with_their_values(self):
        fp32, fp8 = (os.path.join(TRAIN_DATA, f"ts_{r}.csv") for r in ("fp32", "fp8-current"))
        out, svgs = os.path.join(self.dir, "train.html"), os.path.join(self.dir, "svg-train")
        # fp8-current first: the reference is the fp32 run, found by its name.
        p = run("report", out, "--from", fp8, "--from", fp32, "--sections", "training", "--svg-dir", svgs)
        self.assertIn("1 sections, 3 charts, 2 documents", p.stdout)
        with open(out) as f:
            page = f.read()
        self.assertEqual(figures(page), ["training-loss", "training-val", "training-relative"])
        self.assertEqual(sorted(os.listdir(svgs)), ["training-loss.svg", "training-relative.svg", "training-val.svg"])
        rows = {"fp8": csv_rows(fp8), "fp32": csv_rows(fp32)}
        # Embedded: each CSV as the JSON curve `train --curve FILE.json` writes, value for value.
        docs = embedded(page)
        self.assertEqual(sorted(docs), ["training-curve-1.json", "training-curve-2.json"])
        for name, key in (("training-curve-1.json", "fp8"), ("training-curve-2.json", "fp32")):
            points = docs[name]["points"]
            self.assertEqual(len(points), 400)
            for pt, row in zip(points, rows[key]):
                self.assertEqual(pt["step"], int(row["step"]))
                self.assertAlmostEqual(pt["loss"], float(row["loss"]), places=9)
                self.assertEqual(pt["val_loss"], float(row["val_loss"]) if row["val_loss"] else None)
        # Training loss: one smoothed line and one faint line per run, a vertex per update.
        loss = os.path.join(svgs, "training-loss.svg")
        for k in (0, 1):
            self.assertEqual([len(v) for v in data_lines(loss, f"ln k{k}")], [400])
            self.assertEqual([len(v) for v in data_lines(loss, f"ln faint k{k}")], [400])
        # Held-out loss: a vertex per evaluation (every 50 updates), lower is higher on the page:
        # fp32 ends below fp8-current in loss, so above it in pixels' y.
        val = os.path.join(svgs, "training-val.svg")
        (fp8_val,), (fp32_val,) = data_lines(val, "ln k0"), data_lines(val, "ln k1")
        self.assertEqual(len(fp8_val), 8)
        self.assertEqual(len(fp32_val), 8)
        self.assertLess(float(rows["fp32"][-1]["val_loss"]), float(rows["fp8"][-1]["val_loss"]))
        self.assertGreater(fp32_val[-1][1], fp8_val[-1][1])
        # Relative to fp32, in percent, at each of the 8 shared steps, computed here from the CSVs.
        rel = os.path.join(svgs, "training-relative.svg")
        (line,) = data_lines(rel, "ln k0")
        self.assertEqual(len(line), 8)
        pct = [100 * (float(a["val_loss"]) / float(b["val_loss"]) - 1)
               for a, b in zip(rows["fp8"], rows["fp32"]) if a["val_loss"]]
        self.assertEqual(len(pct), 8)
        self.assertIn(f"ts_fp8-current {pct[-1]:+.2f}% (step 400)", page)
        self.assertAlmostEqual(pct[-1], 2.4919, places=3)  # 3.235717 / 3.157041 - 1
        # The y pixel of each vertex is linear in the percent: fit two, check the rest.
        (_, y0), (_, y1) = line[0], line[1]
        scale = (y1 - y0) / (pct[1] - pct[0])
        for (_, y), v in zip(line, pct):
            self.assertAlmostEqual(y, y0 + (v - pct[0]) * scale, delta=0.15)
        root = ET.parse(rel).getroot()
        texts = [t.text for t in root.iter(SVG_NS + "text")]
        self.assertIn("+2%", texts)
        self.assertIn("-2%", texts)
        self.assertIn("ts_fp32 (reference)", texts)
        dashed = [l for l in root.iter(SVG_NS + "line") if "dash" in (l.get("class") or "")]
        self.assertEqual(len(dashed), 2)  # the band's edges
        self.assertAlmostEqual(float(dashed[0].get("y1")) - y0, (2 - pct[0]) * scale, delta=0.15)

    def test_malformed_curves(self):
        out = os.path.join(self.dir, "bad.html")
        header = "step,loss,lr,grad_norm,tokens_per_s,seconds,val_loss\n"
        row = "1,6.25,0.0001,2.1,595.0,0.861,\n"
        cases = [
            ("header.csv", "step;loss\n1;2\n", "line 1: the header is"),
            ("word.csv", header + row + "2,6.1,0.0001,2.1,595.0,abc,\n", "line 3: seconds 'abc' is not a number"),
            ("nanstep.csv", header + row + "nan,6.1,0.0001,2.1,595.0,1.0,\n", "line 3: step \"nan\" is not a whole number"),
            ("empty.csv", header, "line 1: no points after the header"),
            ("short.csv", header + "1,6.25\n", "line 2: 2 fields, the header names 7"),
            ("back.csv", header + "5,6,0,0,0,0,\n" + row, "line 3: step 1 after step 5"),
            ("curve.json", json.dumps({"points": [{"step": 1, "loss": "low"}]}), "point 1: loss \"low\" is not a number"),
        ]
        for name, text, words in cases:
            path = os.path.join(self.dir, name)
            with open(path, "w") as f:
                f.write(text)
            p = run("report", out, "--from", path, "--sections", "training", check=False)
            self.assertEqual(p.returncode, 1, (name, p.stderr))
            self.assertIn(path + ": ", p.stderr, name)
            self.assertIn(words, p.stderr, name)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, (name, p.stderr))
            self.assertFalse(os.path.exists(out), name)
        # Past the size bound: refused before reading (a sparse 17 MB file).
        big = os.path.join(self.dir, "big.csv")
        with open(big, "w") as f:
            f.write(header)
            f.truncate(17 << 20)
        p = run("report", out, "--from", big, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("exceeds the", p.stderr)
        # A curve for a section --sections leaves out, and the section without a curve: usage.
        good = os.path.join(TRAIN_DATA, "mid_fp32.csv")
        p = run("report", out, "--from", good, "--sections", "numbers", check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("a training curve document feeds the training section", p.stderr)
        p = run("report", out, "--sections", "training", check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("training section has nothing to draw", p.stderr)
        self.assertFalse(os.path.exists(out))


if __name__ == "__main__":
    main()
