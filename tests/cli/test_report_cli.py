"""bitsmith report: the page and its SVGs parse, every chart has its file, the embedded documents
are the ones the commands print (error, advise, memory computed by the report equal the commands'
own output; --from documents embedded unchanged), sections follow the data, and bad input gives
one line and exit status 1 or 2 without touching any file."""
import base64
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


if __name__ == "__main__":
    main()
