#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace parley::fuzz {

// Splits a fuzz input into lines: the corpus stays readable ("topic\ncorrelation\npayload"), and
// the fuzzer still reaches every byte value in every field. The last field takes the rest.
class LineReader {
  public:
    LineReader(const uint8_t* data, size_t size)
        : rest_(reinterpret_cast<const char*>(data), size) {}

    std::string next() {
        const size_t end = rest_.find('\n');
        if (end == std::string_view::npos) {
            return rest();
        }
        std::string line(rest_.substr(0, end));
        rest_.remove_prefix(end + 1);
        return line;
    }

    std::string rest() {
        std::string all(rest_);
        rest_ = {};
        return all;
    }

  private:
    std::string_view rest_;
};

}  // namespace parley::fuzz
