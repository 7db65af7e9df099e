// The report module: the SVG writer's arithmetic, document recognition, which sections a
// request turns on, and that each section draws from its data (counts and values checked against
// the formats, schemes and planner the charts claim to show).
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <regex>

#include "bitsmith/eval/evaluator.h"
#include "bitsmith/formats/codec.h"
#include "bitsmith/plan/sensitivity.h"
#include "bitsmith/report/report.h"
#include "bitsmith/report/svg.h"

namespace bitsmith::report {
namespace {

using nlohmann::json;

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

TEST(Svg, TicksAreRoundAndCoverTheRange) {
  EXPECT_EQ(axis_ticks({"x", 0, 1}), (std::vector<double>{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1}));
  EXPECT_EQ(axis_ticks({"x", 1e-3, 1, true}), (std::vector<double>{1e-3, 1e-2, 1e-1, 1}));
  // Under three decades a log axis adds 2 and 5 between the powers of ten.
  EXPECT_EQ(axis_ticks({"x", 1, 100, true}).size(), 7u);
  EXPECT_EQ(tick_text(0.001), "0.001");
  EXPECT_EQ(tick_text(1e-4), "1e-4");
  EXPECT_EQ(tick_text(5e-5), "5e-5");
  EXPECT_EQ(tick_text(128), "128");
}

TEST(Svg, ValuesMapLinearlyAndLogarithmically) {
  Plot lin("t", {"x", 0, 10}, {"y", 0, 100});
  EXPECT_LT(lin.px(0), lin.px(10));
  EXPECT_DOUBLE_EQ(lin.px(5), (lin.px(0) + lin.px(10)) / 2);
  EXPECT_GT(lin.py(0), lin.py(100));  // y grows upwards
  Plot lg("t", {"x", 1, 100, true}, {"y", 1e-4, 1, true});
  EXPECT_NEAR(lg.px(10), (lg.px(1) + lg.px(100)) / 2, 1e-9);
  EXPECT_NEAR(lg.py(1e-2), (lg.py(1e-4) + lg.py(1)) / 2, 1e-9);
}

TEST(Svg, TextIsEscapedAndTheStyleCarriesBothSchemes) {
  EXPECT_EQ(xml_escape("a<b & \"c\" > 'd'"), "a&lt;b &amp; &quot;c&quot; &gt; &apos;d&apos;");
  Plot p("<title & more>", {"x", 0, 1}, {"y", 0, 1});
  p.points({0.5}, {0.5}, {0}, Marker::kCircle, "a & b");
  const std::string svg = p.svg();
  EXPECT_NE(svg.find("&lt;title &amp; more&gt;"), std::string::npos);
  EXPECT_EQ(svg.find("<title & more>"), std::string::npos);
  EXPECT_NE(svg.find("prefers-color-scheme:dark"), std::string::npos);
  EXPECT_NE(svg.find("@media print"), std::string::npos);
  EXPECT_EQ(svg.rfind("</svg>"), svg.size() - 6);
}

TEST(NumberLines, DrawEveryValueOfTheFormats) {
  const SectionOut s = number_lines_section(3.14159265358979);
  ASSERT_EQ(s.charts.size(), 4u);
  // FP4 beside INT4: one dot per distinct value (15 for FP4, +0 and -0 being one; 16 for INT4)
  // plus the two legend markers.
  size_t fp4 = 0;
  const auto& f = **formats::find_format("fp4");
  std::vector<double> seen;
  for (uint32_t c = 0; c < 16; ++c) {
    const double v = formats::decode(f, c);
    if (std::find(seen.begin(), seen.end(), v) == seen.end()) seen.push_back(v), ++fp4;
  }
  EXPECT_EQ(fp4, 15u);
  EXPECT_EQ(count(s.charts[0].svg, "<circle"), fp4 + 16 + 2);
  // The probe chart prints each format's stored value of pi on its bar: e4m3 and e2m3 hold 3.25;
  // e5m2, e3m2, fp4 and both integers 3; fp16 and bf16 3.140625.
  const std::string& probe = s.charts[3].svg;
  EXPECT_EQ(count(probe, ">3.25<"), 2u);
  EXPECT_EQ(count(probe, ">3<"), 5u);
  EXPECT_EQ(count(probe, ">3.14062<"), 2u);
  EXPECT_EQ(formats::probe(**formats::find_format("e2m3"), 3.14159265358979).value, 3.25);
}

TEST(Documents, EachCommandsDocumentIsRecognised) {
  const std::pair<json, DocumentKind> cases[] = {
      {{{"baseline", json::object()}, {"results", {{{"scheme", "q4_0"}, {"kld", 0.1}}}}, {"pareto", json::array()}},
       DocumentKind::kCompare},
      {{{"input", {{"synthetic", "normal"}}}, {"results", {{{"scheme", "int8"}, {"mse", 1}}}}}, DocumentKind::kError},
      {{{"params", 1e9}, {"devices", json::array()}, {"results", {{{"scheme", "int8"}, {"naive_bits", 8}}}}},
       DocumentKind::kMemory},
      {{{"device", json::object()}, {"alternatives", json::array()}}, DocumentKind::kAdvice},
      {{{"bitsmith_measurements", 1}}, DocumentKind::kMeasurements},
      {{{"measurements", {{"bitsmith_measurements", 1}}}, {"proxy_spearman", 0.9}}, DocumentKind::kMeasurements},
      {{{"allocation", {{"tensors", json::array()}}}, {"recipe", json::object()}}, DocumentKind::kAllocation},
      {json::array({{{"mix", "Q4_K_M"}, {"llamacpp", {{"kld", 0.1}}}}}), DocumentKind::kPeerComparison},
  };
  for (const auto& [doc, kind] : cases) {
    auto d = recognise_document(doc, "doc.json");
    ASSERT_TRUE(d.ok()) << doc.dump();
    EXPECT_EQ(d->kind, kind) << doc.dump();
  }
  auto bad = recognise_document({{"formats", json::array()}}, "formats.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("formats.json"), std::string::npos);
}

TEST(Build, DefaultsToNumbersAndTheLabsError) {
  auto r = build_report({});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->sections.size(), 2u);
  EXPECT_EQ(r->sections[0].section, Section::kNumberLines);
  EXPECT_EQ(r->sections[1].section, Section::kError);
  ASSERT_EQ(r->documents.size(), 1u);
  const json& doc = r->documents[0].body;
  EXPECT_EQ(doc["input"]["seed"], 42);
  // Every scheme's absolute-error histogram counts every weight once.
  for (const auto& row : doc["results"]) {
    const auto counts = row["abs_histogram"]["counts"].get<std::vector<uint64_t>>();
    EXPECT_EQ(std::accumulate(counts.begin(), counts.end(), uint64_t{0}), 40u * 256) << row["scheme"];
    EXPECT_DOUBLE_EQ(number_of(row["abs_histogram"]["hi"]), number_of(row["max_abs_error"])) << row["scheme"];
  }
  const std::string page = render_html(*r);
  EXPECT_NE(page.find("default-src 'none'"), std::string::npos);
  EXPECT_EQ(page.find("http://"), std::string::npos);
  EXPECT_EQ(page.find("https://"), std::string::npos);
  EXPECT_EQ(page.find("<script"), std::string::npos);
}

TEST(Build, SectionsWithoutDataOrDataWithoutSectionsAreErrors) {
  ReportRequest quality;
  quality.sections = {Section::kQuality};
  auto r = build_report(quality);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("compare"), std::string::npos);

  ReportRequest off;
  off.sections = {Section::kNumberLines};
  off.documents.push_back(*recognise_document({{"bitsmith_measurements", 1}}, "m.json"));
  r = build_report(off);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("m.json"), std::string::npos);
  EXPECT_NE(r.status().message().find("sensitivity"), std::string::npos);
}

TEST(Build, MemoryForAParameterCountStacksTheAdvisorsItems) {
  ReportRequest req;
  req.sections = {Section::kMemory};
  req.shape = *plan::shape_for_params(70e9);
  req.device = default_report_device();
  auto r = build_report(req);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->sections.size(), 1u);
  ASSERT_EQ(r->sections[0].charts.size(), 2u);
  // 70B in bf16 is 140 GB: dgx-spark's 128 GB line is on the chart.
  EXPECT_NE(r->sections[0].charts[0].svg.find("dgx-spark 128 GB"), std::string::npos);
  EXPECT_NE(r->sections[0].charts[1].svg.find("KV cache"), std::string::npos);
  const auto& advice = r->documents.back();
  EXPECT_EQ(advice.kind, DocumentKind::kAdvice);
  EXPECT_EQ(advice.body["alternatives"].size(), default_report_schemes().size());
}

TEST(Build, QualityDrawsComparePointsInVerdictColoursAndThePareto) {
  json compare = {{"baseline", {{"perplexity", 10}}},
                  {"results",
                   {{{"scheme", "q8_0"}, {"bits_per_weight", 8.5}, {"kld", 0.001}, {"delta_ppl", 0.01}, {"verdict", "excellent"},
                     {"ppl_verdict", "excellent"}},
                    {{"scheme", "q4_0"}, {"bits_per_weight", 4.5}, {"kld", 0.2}, {"delta_ppl", 1.5}, {"verdict", "too aggressive"},
                     {"ppl_verdict", "too aggressive"}}}},
                  {"pareto", {"q8_0", "q4_0"}}};
  ReportRequest req;
  req.sections = {Section::kQuality};
  req.documents.push_back(*recognise_document(compare, "compare.json"));
  auto r = build_report(req);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const std::string& kld = r->sections[0].charts.at(0).svg;
  EXPECT_NE(kld.find(">q8_0<"), std::string::npos);
  EXPECT_NE(kld.find(">q4_0<"), std::string::npos);
  EXPECT_NE(kld.find("class=\"f2 edge\""), std::string::npos);  // excellent: bluish green
  EXPECT_NE(kld.find("class=\"f3 edge\""), std::string::npos);  // too aggressive: vermillion
  EXPECT_NE(kld.find("Pareto front"), std::string::npos);
  EXPECT_EQ(r->sections[0].charts.at(1).id, "quality-ppl");
}

TEST(Build, LlamaCppFiguresAreSquaresColouredByTheSameVerdict) {
  // vs_llamacpp.py's rows: llama-perplexity's top-1 ("Same top p") is in percent.
  json peer = json::array({{{"mix", "Q4_K_M"},
                            {"llamacpp", {{"bpw", 5.1}, {"kld", 0.03}, {"top1", 93.0}}},
                            {"planned", {{"bpw", 5.0}, {"kld", 0.025}, {"top1", 94.0}}}}});
  ReportRequest req;
  req.documents.push_back(*recognise_document(peer, "results.json"));
  auto r = build_report(req);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const SectionOut* quality = nullptr;
  for (const auto& s : r->sections) quality = s.section == Section::kQuality ? &s : quality;
  ASSERT_NE(quality, nullptr);
  const std::string& svg = quality->charts.at(0).svg;
  EXPECT_EQ(eval::verdict(0.03, 0.93), "good");
  EXPECT_NE(svg.find("<rect x="), std::string::npos);
  EXPECT_NE(svg.find(R"(class="f4 edge"/><text class="m")"), std::string::npos);  // good: sky blue, labelled
  EXPECT_NE(svg.find(">Q4_K_M<"), std::string::npos);
  EXPECT_NE(svg.find("llama.cpp mixes"), std::string::npos);
}

TEST(Build, SensitivityHeatmapHasACellPerMeasuredMatrix) {
  plan::Measurements m;
  m.config.costs = "exact";
  m.config.method = "rtn";
  for (int layer = 0; layer < 3; ++layer) {
    for (const char* kind : {"attn_q", "ffn_down"}) {
      plan::TensorCosts t;
      t.name = "blk." + std::to_string(layer) + "." + kind + ".weight";
      t.rows = t.cols = 64;
      t.measured = true;
      plan::CandidateCost c;
      c.scheme = c.requested = "q4_0";
      c.bytes = 100;
      c.kld = 0.01 * (layer + 1);
      c.proxy = 1;
      t.options.push_back(c);
      m.tensors.push_back(t);
    }
  }
  ReportRequest req;
  req.sections = {Section::kSensitivity};
  req.documents.push_back(*recognise_document(json::parse(m.to_json()), "m.json"));
  auto r = build_report(req);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const std::string& svg = r->sections[0].charts.at(0).svg;
  EXPECT_EQ(count(svg, "<title>"), 6u);  // one tooltip per cell
  EXPECT_NE(svg.find("<title>layer 2 ffn_down: 0.03</title>"), std::string::npos);
}

}  // namespace
}  // namespace bitsmith::report
