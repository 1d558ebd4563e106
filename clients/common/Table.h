#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace parley::client {

// A plain text table for humans: a header line, then one line per row, columns padded to the
// widest cell (counted in UTF-8 characters). Cells longer than `maxCell` characters are cut.
void printTable(std::ostream& out, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows, size_t maxCell = 60);

// "2026-11-21 10:04:05" in local time, from ms since the epoch; "-" for 0.
std::string formatTime(long long epochMs);

}  // namespace parley::client
