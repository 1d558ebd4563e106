#pragma once

#include <concepts>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ops/Histogram.h"

namespace parley::ops {

using Labels = std::vector<std::pair<std::string, std::string>>;

// Writes Prometheus text exposition format 0.0.4: a family's HELP and TYPE lines, then its samples.
class Exposition {
  public:
    // Starts a family; `type` is counter, gauge or histogram.
    void family(std::string_view name, std::string_view type, std::string_view help);
    // Every value is written in full: a double as the shortest text that reads back as the same
    // double, an integer (a counter past 2^53 included) digit for digit.
    void sample(std::string_view name, const Labels& labels, double value);
    template <std::integral Integer>
    void sample(std::string_view name, const Labels& labels, Integer value) {
        sampleText(name, labels, std::to_string(value));
    }
    // The _bucket, _sum and _count samples of a histogram family `name`.
    void histogram(std::string_view name, const Labels& labels,
                   const Histogram::Snapshot& snapshot);

    const std::string& text() const { return text_; }

  private:
    void sampleText(std::string_view name, const Labels& labels, const std::string& value);
    void labels(const Labels& labels, const std::pair<std::string, std::string>* extra);
    std::string text_;
};

}  // namespace parley::ops
