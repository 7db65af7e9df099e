// The HTML page: one file, inline SVG and CSS only. A Content-Security-Policy of
// default-src 'none' makes the browser refuse (and report) any request the page might try, so a
// page that renders without console errors made none.
#include <fmt/format.h>

#include <array>
#include <filesystem>

#include "bitsmith/report/report.h"
#include "bitsmith/report/svg.h"

namespace bitsmith::report {

namespace {

constexpr std::string_view kPageStyle = R"(:root{--fg:#1a1a1a;--bg:#fff;--muted:#555;--rule:#ddd;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--fg:#e6e6e6;--bg:#161616;--muted:#aaa;--rule:#333}}
body{margin:0 auto;max-width:1560px;padding:16px 24px;font-family:sans-serif;color:var(--fg);background:var(--bg);line-height:1.45}
h1{font-size:1.6em;margin:.2em 0}h2{display:inline;font-size:1.25em}summary{cursor:pointer;margin:1.2em 0 .4em}
p.caption{max-width:72em}.charts{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0}
figure svg{max-width:100%;height:auto;border:1px solid var(--rule)}ul.notes{color:var(--muted);font-size:.9em}
nav a{margin-right:1em}a{color:inherit}
@media print{:root{--fg:#000;--bg:#fff}nav{display:none}figure{break-inside:avoid}details>summary{list-style:none}})";

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  for (size_t i = 0; i < in.size(); i += 3) {
    const uint32_t b0 = static_cast<unsigned char>(in[i]);
    const uint32_t b1 = i + 1 < in.size() ? static_cast<unsigned char>(in[i + 1]) : 0;
    const uint32_t b2 = i + 2 < in.size() ? static_cast<unsigned char>(in[i + 2]) : 0;
    const uint32_t v = (b0 << 16) | (b1 << 8) | b2;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += i + 2 < in.size() ? kAlphabet[v & 63] : '=';
  }
  return out;
}

// HTML puts an <svg> element in the SVG namespace by itself; dropping the xmlns attribute keeps
// the page free of any URL, so a scan for "http" finds only what should not be there.
std::string inline_svg(std::string_view svg) {
  static constexpr std::string_view kXmlns = " xmlns=\"http://www.w3.org/2000/svg\"";
  std::string out(svg);
  if (const size_t at = out.find(kXmlns); at != std::string::npos) out.erase(at, kXmlns.size());
  return out;
}

}  // namespace

std::string render_html(const Report& report) {
  std::string h = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
  h += "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n";
  h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  h += fmt::format("<title>{}</title>\n<style>{}</style></head><body>\n", xml_escape(report.title), kPageStyle);
  h += fmt::format("<header><h1>{}</h1><p>Made by bitsmith report from the documents listed under Data, each "
                   "downloadable as the JSON the command printed. Every chart is drawn from them; nothing on this page "
                   "comes from the network.</p><nav>",
                   xml_escape(report.title));
  for (const auto& s : report.sections) h += fmt::format("<a href=\"#{}\">{}</a>", section_name(s.section), xml_escape(s.title));
  h += "<a href=\"#data\">Data</a></nav></header>\n";
  for (const auto& s : report.sections) {
    h += fmt::format("<section id=\"{}\"><details open><summary><h2>{}</h2></summary>\n<p class=\"caption\">{}</p>\n<div class=\"charts\">\n",
                     section_name(s.section), xml_escape(s.title), xml_escape(s.caption));
    for (const auto& c : s.charts) h += fmt::format("<figure id=\"chart-{}\" class=\"chart\">{}</figure>\n", c.id, inline_svg(c.svg));
    h += "</div>\n<ul class=\"notes\">";
    for (const auto& n : s.notes) h += "<li>" + xml_escape(n) + "</li>";
    h += "</ul></details></section>\n";
  }
  h += "<section id=\"data\"><details open><summary><h2>Data</h2></summary><ul>\n";
  for (size_t i = 0; i < report.documents.size(); ++i) {
    const Document& d = report.documents[i];
    std::string kind(document_kind_name(d.kind));
    for (char& c : kind) c = (c == ' ' || c == '.') ? '-' : c;
    const std::string json = d.body.dump();
    h += fmt::format("<li><a download=\"{}-{}.json\" href=\"data:application/json;base64,{}\">{} ({}, {} KB)</a></li>\n", kind,
                     i + 1, base64(json), xml_escape(std::string(document_kind_name(d.kind)) + ": " + d.origin),
                     "JSON", (json.size() + 1023) / 1024);
  }
  h += "</ul></details></section>\n</body></html>\n";
  return h;
}

Status write_report(const Report& report, const std::string& html_path, const std::string& svg_dir,
                    const InputFiles& inputs) {
  BITSMITH_RETURN_IF_ERROR(inputs.check_output(html_path));
  if (!svg_dir.empty()) {
    BITSMITH_ASSIGN_OR_RETURN(OutputSet set, OutputSet::create(svg_dir));
    for (const auto& s : report.sections) {
      for (const auto& c : s.charts) {
        BITSMITH_RETURN_IF_ERROR(inputs.check_output(set.final_path(c.id + ".svg")));
        BITSMITH_RETURN_IF_ERROR(write_file_atomic(set.stage(c.id + ".svg"), "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + c.svg + "\n"));
      }
    }
    BITSMITH_RETURN_IF_ERROR(set.commit());
  }
  return write_file_atomic(html_path, render_html(report));
}

}  // namespace bitsmith::report
