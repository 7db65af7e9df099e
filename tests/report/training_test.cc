// The training section: train's loss curves read from CSV and JSON (every rule a stranger's file
// can break gives an error naming the file and the line or point), the relative held-out loss
// against a hand computation, the smoothing, and the charts drawn from docs/data/train's curves.
#include <gtest/gtest.h>

#include <cmath>
#include <regex>
#include <string>

#include "bitsmith/report/report.h"
#include "bitsmith/report/svg.h"

namespace bitsmith::report {
namespace {

using nlohmann::json;

constexpr const char* kHeader = "step,loss,lr,grad_norm,tokens_per_s,seconds,val_loss\n";

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

// The d attribute of every <path> of class `cls` (the data lines; legend samples are <line>s).
std::vector<std::string> paths(const std::string& svg, const std::string& cls) {
  std::vector<std::string> out;
  const std::regex re("<path d=\"([^\"]*)\" class=\"" + cls + "\"/>");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), re); it != std::sregex_iterator(); ++it) out.push_back((*it)[1]);
  return out;
}

std::string train_file(const char* name) { return std::string(BITSMITH_SOURCE_DIR) + "/docs/data/train/" + name; }

const SectionOut& section(const Report& r, Section s) {
  for (const auto& out : r.sections) {
    if (out.section == s) return out;
  }
  throw std::runtime_error("no such section");
}

TEST(TrainingCurve, CsvBecomesTrainsJsonCurve) {
  const std::string csv = std::string(kHeader) +
                          "1,6.250528,0.00015,2.1657,595.0,0.861,\r\n"  // CRLF, as a spreadsheet saves it
                          "2,6.232893,0.0003,2.36017,1157.9,1.303,\n"
                          "3,nan,0.00045,2.40898,935.3,1.850,6.1\n";
  auto d = training_curve_from_csv(csv, "run/mid_fp8-current.csv");
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  EXPECT_EQ(d->kind, DocumentKind::kTrainingCurve);
  const json& pts = d->body["points"];
  ASSERT_EQ(pts.size(), 3u);
  EXPECT_TRUE(pts[0]["step"].is_number_integer());
  EXPECT_EQ(pts[2]["step"], 3);
  EXPECT_DOUBLE_EQ(pts[1]["loss"].get<double>(), 6.232893);
  EXPECT_DOUBLE_EQ(pts[1]["tokens_per_s"].get<double>(), 1157.9);
  EXPECT_TRUE(pts[0]["val_loss"].is_null());
  EXPECT_EQ(pts[2]["loss"], "nan");  // a diverged step: json_number's convention
  EXPECT_DOUBLE_EQ(pts[2]["val_loss"].get<double>(), 6.1);

  const TrainingCurve c = training_curve(*d);
  EXPECT_EQ(c.label, "mid_fp8-current");  // the file's stem
  EXPECT_EQ(c.step, (std::vector<double>{1, 2, 3}));
  EXPECT_TRUE(std::isnan(c.loss[2]));
  EXPECT_EQ(c.val_step, std::vector<double>{3});
  EXPECT_EQ(c.val_loss, std::vector<double>{6.1});
}

TEST(TrainingCurve, TheRecordedRunsRead) {
  auto d = load_document(train_file("ts_fp32.csv"));
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  const TrainingCurve c = training_curve(*d);
  ASSERT_EQ(c.step.size(), 400u);
  EXPECT_EQ(c.step.front(), 1);
  EXPECT_EQ(c.step.back(), 400);
  EXPECT_DOUBLE_EQ(c.loss.front(), 6.250528);
  // Held out every 50 updates: steps 50, 100, ..., 400.
  ASSERT_EQ(c.val_step.size(), 8u);
  EXPECT_EQ(c.val_step[0], 50);
  EXPECT_DOUBLE_EQ(c.val_loss.back(), 3.157041);
}

TEST(TrainingCurve, BrokenCsvNamesTheFileAndTheLine) {
  const std::string row = "1,6.2,0.1,1,1,1,\n";
  const std::pair<std::string, std::string> cases[] = {
      {"", "empty"},
      {"step,loss\n1,2\n", "line 1: the header is 'step,loss'"},
      {"loss,step,lr,grad_norm,tokens_per_s,seconds,val_loss\n" + row, "line 1"},
      {kHeader, "line 1: no points after the header"},
      {std::string(kHeader) + row + "2,abc,0.1,1,1,1,\n", "line 3: loss 'abc' is not a number"},
      {std::string(kHeader) + row + "2,6.1,0.1,,1,1,\n", "line 3: grad_norm '' is not a number"},
      {std::string(kHeader) + row + "2,6.1,0.1,1,1,1\n", "line 3: 6 fields, the header names 7"},
      {std::string(kHeader) + row + "2,6.1,0.1,1,1,1,3,4\n", "line 3: 8 fields"},
      {std::string(kHeader) + "nan,6.2,0.1,1,1,1,\n", "line 2: step \"nan\" is not a whole number"},
      {std::string(kHeader) + "1.5,6.2,0.1,1,1,1,\n", "line 2: step 1.5 is not a whole number"},
      {std::string(kHeader) + "-1,6.2,0.1,1,1,1,\n", "line 2: step -1.0 is not a whole number"},
      {std::string(kHeader) + "1e300,6.2,0.1,1,1,1,\n", "line 2: step 1e+300 is not a whole number"},
      {std::string(kHeader) + row + "\n" + row, "line 4: step 1 after step 1: steps must increase"},
      {std::string(kHeader) + "1,6.2,0.1,1,1,1,\x01\xff\n", "line 2: val_loss '\?\?' is not a number"},
  };
  for (const auto& [text, words] : cases) {
    auto d = training_curve_from_csv(text, "bad.csv");
    ASSERT_FALSE(d.ok()) << text;
    const std::string m = d.status().message();
    EXPECT_NE(m.find("bad.csv"), std::string::npos) << m;
    EXPECT_NE(m.find(words), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
  // Bounded: one point more than kMaxCurvePoints is refused at its line.
  std::string big = kHeader;
  for (size_t i = 1; i <= kMaxCurvePoints + 1; ++i) big += std::to_string(i) + ",3,0,0,0,0,\n";
  auto d = training_curve_from_csv(big, "big.csv");
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find(fmt::format("line {}: more than {} points", kMaxCurvePoints + 2, kMaxCurvePoints)),
            std::string::npos)
      << d.status().message();
}

TEST(TrainingCurve, MutatedCsvIsReadOrRefusedAndWhatIsReadDraws) {
  // A small fuzz in the unit tests (libFuzzer targets need clang): a train-like curve's rows
  // with random bytes replaced, inserted or deleted; each is a curve that draws or one error line.
  std::string base = std::string(kHeader);
  for (int i = 1; i <= 12; ++i) base += fmt::format("{},{:.6f},0.0001,1.5,900.0,{:.3f},{}\n", i, 6.0 - 0.1 * i, 0.5 * i,
                                                    i % 4 == 0 ? fmt::format("{:.6f}", 6.1 - 0.1 * i) : "");
  static constexpr char kBytes[] = "0123456789,.-+eE\n\r nanif\x00\xff";
  uint64_t state = 42;
  auto next = [&state] {  // splitmix64
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  int read = 0, refused = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string text = base;
    for (int m = 0, n = 1 + static_cast<int>(next() % 3); m < n && !text.empty(); ++m) {
      const size_t at = next() % text.size();
      const char c = kBytes[next() % (sizeof(kBytes) - 1)];
      switch (next() % 3) {
        case 0: text[at] = c; break;
        case 1: text.insert(text.begin() + static_cast<std::ptrdiff_t>(at), c); break;
        default: text.erase(at, 1);
      }
    }
    auto d = training_curve_from_csv(text, "fuzz.csv");
    if (!d.ok()) {
      ++refused;
      const std::string msg = d.status().message();
      EXPECT_TRUE(msg.starts_with("fuzz.csv: ")) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
      continue;
    }
    ++read;
    ReportRequest req;
    req.sections = {Section::kTraining};
    req.documents = {*d, *d};
    auto r = build_report(req);
    ASSERT_TRUE(r.ok()) << r.status().to_string() << "\n" << text;
  }
  EXPECT_GT(read, 100);  // both outcomes are exercised
  EXPECT_GT(refused, 100);
}

TEST(TrainingCurve, JsonCurvesAreRecognisedAndChecked) {
  const json points = {{{"step", 1}, {"loss", 6.0}, {"val_loss", nullptr}}, {{"step", 2}, {"loss", 5.0}, {"val_loss", 5.5}}};
  auto file = recognise_document({{"points", points}}, "out/curve.json");  // train --curve FILE.json
  ASSERT_TRUE(file.ok()) << file.status().to_string();
  EXPECT_EQ(file->kind, DocumentKind::kTrainingCurve);
  EXPECT_EQ(training_curve(*file).label, "curve");
  auto printed = recognise_document({{"recipe", "bf16"}, {"qat", ""}, {"curve", points}}, "train.json");  // train --json
  ASSERT_TRUE(printed.ok()) << printed.status().to_string();
  const TrainingCurve c = training_curve(*printed);
  EXPECT_EQ(c.label, "bf16");
  EXPECT_EQ(c.val_step, std::vector<double>{2});
  EXPECT_EQ(training_curve(*recognise_document({{"recipe", "fp32"}, {"qat", "nvfp4"}, {"curve", points}}, "q.json")).label,
            "fp32, QAT nvfp4");

  const std::pair<json, std::string> bad[] = {
      {{{"points", json::array()}}, "c.json: a training curve with no points"},
      {{{"points", {{{"step", "x"}, {"loss", 1}}}}}, "point 1: step \"x\" is not a whole number"},
      {{{"points", {{{"step", 2}, {"loss", 1}}, {{"step", 2}, {"loss", 1}}}}}, "point 2: step 2 after step 2"},
      {{{"points", {{{"step", 1}}}}}, "point 1: loss null is not a number"},
      {{{"points", {{{"step", 1}, {"loss", {1, 2}}}}}}, "point 1: loss [1,2] is not a number"},
      {{{"curve", {{{"step", 1}, {"loss", 1}, {"val_loss", "low"}}}}}, "point 1: val_loss \"low\" is neither"},
      {{{"points", {{{"step", 1}, {"loss", 1}}, 7}}}, "point 2: not an object"},
  };
  for (const auto& [doc, words] : bad) {
    auto d = recognise_document(doc, "c.json");
    ASSERT_FALSE(d.ok()) << doc.dump();
    EXPECT_NE(d.status().message().find(words), std::string::npos) << d.status().message();
  }
}

TEST(TrainingCurve, RelativeHeldOutLossIsPercentAtSharedSteps) {
  TrainingCurve ref, run;
  ref.val_step = {100, 200, 250};
  ref.val_loss = {4.0, 3.0, 2.0};
  run.val_step = {50, 100, 200, 300};
  run.val_loss = {9.0, 4.1, 3.03, 2.9};
  const auto [steps, percents] = relative_val_loss(run, ref);
  // Steps both measured: 100 and 200. 4.1 / 4.0 = 1.025 -> +2.5%; 3.03 / 3.0 = 1.01 -> +1%.
  EXPECT_EQ(steps, (std::vector<double>{100, 200}));
  ASSERT_EQ(percents.size(), 2u);
  EXPECT_NEAR(percents[0], 2.5, 1e-12);
  EXPECT_NEAR(percents[1], 1.0, 1e-12);
}

TEST(TrainingCurve, CentredMeanSkipsGapsAndShrinksAtTheEnds) {
  EXPECT_EQ(centred_mean({1, 2, 3, 4, 5}, 3), (std::vector<double>{1.5, 2, 3, 4, 4.5}));
  const auto m = centred_mean({1, 2, NAN, 4, 5}, 3);
  EXPECT_EQ(m[0], 1.5);
  EXPECT_EQ(m[1], 1.5);  // (1 + 2) / 2: the gap is left out
  EXPECT_TRUE(std::isnan(m[2]));  // and stays a gap
  EXPECT_EQ(m[3], 4.5);
  EXPECT_EQ(centred_mean({1, 2, 3}, 1), (std::vector<double>{1, 2, 3}));
}

TEST(TrainingSection, DrawsOneLinePerRunAndTheBandAgainstFp32) {
  ReportRequest req;
  req.sections = {Section::kTraining};
  for (const char* f : {"ts_bf16.csv", "ts_fp32.csv", "ts_nvfp4.csv"}) req.documents.push_back(*load_document(train_file(f)));
  auto r = build_report(req);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const SectionOut& s = section(*r, Section::kTraining);
  ASSERT_EQ(s.charts.size(), 3u);
  EXPECT_EQ(s.charts[0].id, "training-loss");
  EXPECT_EQ(s.charts[1].id, "training-val");
  EXPECT_EQ(s.charts[2].id, "training-relative");
  // Training loss: per run one smoothed line (colour = the run's place) and its raw steps faint.
  const std::string& loss = s.charts[0].svg;
  for (int k = 0; k < 3; ++k) {
    const auto line = paths(loss, fmt::format("ln k{}", k)), faint = paths(loss, fmt::format("ln faint k{}", k));
    ASSERT_EQ(line.size(), 1u) << k;
    ASSERT_EQ(faint.size(), 1u) << k;
    // 400 updates: one vertex per update, the first a move.
    EXPECT_EQ(count(line[0], "L"), 399u) << k;
    EXPECT_EQ(count(faint[0], "L"), 399u) << k;
  }
  EXPECT_EQ(count(loss, "<path d="), 6u + 1);  // and the axes'
  for (const char* run : {">ts_bf16<", ">ts_fp32<", ">ts_nvfp4<"}) EXPECT_EQ(count(loss, run), 1u) << run;  // the legend
  EXPECT_NE(s.caption.find("mean of the 11 updates"), std::string::npos);  // 400 / 40 = 10, made odd
  // Held-out loss: 8 evaluations per run, a marker each (+ one legend marker per run).
  const std::string& val = s.charts[1].svg;
  EXPECT_EQ(count(val, "<circle"), 8u + 1);  // ts_bf16, the first run
  EXPECT_EQ(count(val, "<rect x="), 8u + 1);  // ts_fp32: squares
  // Relative to fp32 (the second run, found by its name), bf16 at step 400 is
  // 100 * (3.188949 / 3.157041 - 1) = +1.0107%; the band at +-2%.
  const std::string& rel = s.charts[2].svg;
  EXPECT_NE(rel.find("Held-out loss relative to ts_fp32"), std::string::npos);
  EXPECT_NE(rel.find(">+2%<"), std::string::npos);
  EXPECT_NE(rel.find(">-2%<"), std::string::npos);
  EXPECT_NE(rel.find("ts_fp32 (reference)"), std::string::npos);
  bool noted = false;
  for (const auto& n : s.notes) noted = noted || n.find("ts_bf16 +1.01% (step 400)") != std::string::npos;
  EXPECT_TRUE(noted);
  const TrainingCurve bf16 = training_curve(r->documents[0]), fp32 = training_curve(r->documents[1]);
  const auto [steps, percents] = relative_val_loss(bf16, fp32);
  ASSERT_EQ(steps.size(), 8u);
  EXPECT_NEAR(percents.back(), 1.0106932409176927, 1e-9);
  EXPECT_NEAR(percents.front(), 100 * (4.335005 / 4.352318 - 1), 1e-9);  // step 50: -0.398%
  // The page embeds each curve as train's JSON document.
  EXPECT_EQ(r->documents[1].body["points"].size(), 400u);
  EXPECT_NE(render_html(*r).find("training-curve-2.json"), std::string::npos);
}

TEST(TrainingSection, OneRunOrNoHeldOutLossDrawsLess) {
  const std::string csv = std::string(kHeader) + "1,6,0,0,0,0,\n2,5,0,0,0,0,\n";
  ReportRequest req;
  req.documents.push_back(*training_curve_from_csv(csv, "a.csv"));
  auto r = build_report(req);  // without --sections: numbers, error, and training for the curve
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const SectionOut& s = section(*r, Section::kTraining);
  ASSERT_EQ(s.charts.size(), 1u);
  EXPECT_NE(s.caption.find("no smoothing"), std::string::npos);
  EXPECT_NE(s.caption.find("--eval-every"), std::string::npos);

  // Two train --json documents of one recipe: their files tell them apart.
  const json pts = {{{"step", 10}, {"loss", 3.0}, {"val_loss", 3.3}}};
  ReportRequest two;
  two.sections = {Section::kTraining};
  two.documents.push_back(*recognise_document({{"recipe", "fp32"}, {"curve", pts}}, "runs/a.json"));
  two.documents.push_back(*recognise_document({{"recipe", "fp32"}, {"curve", pts}}, "runs/b.json"));
  r = build_report(two);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->sections[0].charts.size(), 3u);
  EXPECT_NE(r->sections[0].charts[2].svg.find("relative to fp32 (a)"), std::string::npos);
  EXPECT_NE(r->sections[0].charts[2].svg.find(">fp32 (b)<"), std::string::npos);
}

TEST(TrainingSection, ExtremeValuesDrawWithoutHangingOrNaN) {
  // Steps at 2^53 (a span of one unit in the last place), losses one ulp apart, and +-1e308.
  const json a = {{{"step", 9007199254740990}, {"loss", 3.0}, {"val_loss", 1e-300}},
                  {{"step", 9007199254740991}, {"loss", std::nextafter(3.0, 4.0)}, {"val_loss", 1e-300}}};
  const json b = {{{"step", 9007199254740990}, {"loss", 1e308}, {"val_loss", -1e308}},
                  {{"step", 9007199254740991}, {"loss", -1e308}, {"val_loss", 1e308}}};
  ReportRequest req;
  req.sections = {Section::kTraining};
  req.documents.push_back(*recognise_document({{"points", a}}, "fp32.json"));
  req.documents.push_back(*recognise_document({{"points", b}}, "b.json"));
  auto r = build_report(req);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->sections[0].charts.size(), 3u);
  for (const auto& c : r->sections[0].charts) {
    EXPECT_EQ(c.svg.find("nan"), std::string::npos) << c.id;
    EXPECT_EQ(c.svg.find("inf"), std::string::npos) << c.id;
  }
  EXPECT_LE(axis_ticks({"x", 9007199254740990.0, 9007199254740991.0}).size(), 64u);
}

TEST(TrainingSection, WithoutCurvesOrSwitchedOffIsAUsageError) {
  ReportRequest none;
  none.sections = {Section::kTraining};
  auto r = build_report(none);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("training section has nothing to draw"), std::string::npos);
  EXPECT_NE(r.status().message().find("train --curve"), std::string::npos);
  ReportRequest off;
  off.sections = {Section::kNumberLines};
  off.documents.push_back(*load_document(train_file("mid_fp32.csv")));
  r = build_report(off);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("mid_fp32.csv: a training curve document feeds the training section"),
            std::string::npos)
      << r.status().message();
  EXPECT_EQ(*parse_section("training"), Section::kTraining);
}

}  // namespace
}  // namespace bitsmith::report
