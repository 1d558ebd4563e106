#include "ops/Exposition.h"

#include <charconv>
#include <cmath>
#include <iterator>

namespace parley::ops {

namespace {
std::string number(double value) {
    if (std::isinf(value)) {
        return value > 0 ? "+Inf" : "-Inf";
    }
    if (std::isnan(value)) {
        return "NaN";
    }
    // Shortest round trip: 1796598790.123 stays that, not 1.79659879e+09 (10-second steps).
    char text[32];
    const auto written = std::to_chars(std::begin(text), std::end(text), value);
    return std::string(text, written.ptr);
}

void appendEscaped(std::string& out, std::string_view value) {
    for (char c : value) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '"') {
            out += "\\\"";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
}
}  // namespace

void Exposition::family(std::string_view name, std::string_view type, std::string_view help) {
    text_ += "# HELP ";
    text_ += name;
    text_ += ' ';
    for (char c : help) {
        text_ += c == '\n' ? ' ' : c;
    }
    text_ += "\n# TYPE ";
    text_ += name;
    text_ += ' ';
    text_ += type;
    text_ += '\n';
}

void Exposition::labels(const Labels& labels, const std::pair<std::string, std::string>* extra) {
    if (labels.empty() && extra == nullptr) {
        return;
    }
    text_ += '{';
    bool first = true;
    auto one = [&](const std::pair<std::string, std::string>& label) {
        if (!first) {
            text_ += ',';
        }
        first = false;
        text_ += label.first;
        text_ += "=\"";
        appendEscaped(text_, label.second);
        text_ += '"';
    };
    for (const auto& label : labels) {
        one(label);
    }
    if (extra != nullptr) {
        one(*extra);
    }
    text_ += '}';
}

void Exposition::sample(std::string_view name, const Labels& sampleLabels, double value) {
    sampleText(name, sampleLabels, number(value));
}

void Exposition::sampleText(std::string_view name, const Labels& sampleLabels,
                            const std::string& value) {
    text_ += name;
    labels(sampleLabels, nullptr);
    text_ += ' ';
    text_ += value;
    text_ += '\n';
}

void Exposition::histogram(std::string_view name, const Labels& sampleLabels,
                           const Histogram::Snapshot& snapshot) {
    const std::string bucket = std::string(name) + "_bucket";
    for (size_t i = 0; i < snapshot.cumulative.size(); ++i) {
        const std::pair<std::string, std::string> le{
            "le", i < Histogram::kBounds.size() ? number(Histogram::kBounds[i]) : "+Inf"};
        text_ += bucket;
        labels(sampleLabels, &le);
        text_ += ' ';
        text_ += std::to_string(snapshot.cumulative[i]);
        text_ += '\n';
    }
    sample(std::string(name) + "_sum", sampleLabels, snapshot.sumSeconds);
    sample(std::string(name) + "_count", sampleLabels, snapshot.count());
}

}  // namespace parley::ops
