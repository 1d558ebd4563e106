#include "Table.h"

#include <ctime>

namespace parley::client {

namespace {

size_t characters(const std::string& text) {
    size_t count = 0;
    for (unsigned char byte : text) {
        count += (byte & 0xC0) != 0x80 ? 1 : 0;
    }
    return count;
}

std::string cut(const std::string& text, size_t maxCharacters) {
    if (characters(text) <= maxCharacters) {
        return text;
    }
    std::string result;
    size_t count = 0;
    for (unsigned char byte : text) {
        if ((byte & 0xC0) != 0x80 && ++count > maxCharacters - 1) {
            break;
        }
        result += static_cast<char>(byte);
    }
    return result + "…";
}

}  // namespace

void printTable(std::ostream& out, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows, size_t maxCell) {
    std::vector<std::vector<std::string>> cells;
    cells.push_back(header);
    for (const auto& row : rows) {
        std::vector<std::string> line;
        for (const auto& cell : row) {
            std::string flat = cell;
            for (char& c : flat) {
                if (c == '\n' || c == '\t' || c == '\r') {
                    c = ' ';
                }
            }
            line.push_back(cut(flat, maxCell));
        }
        cells.push_back(std::move(line));
    }
    std::vector<size_t> widths(header.size(), 0);
    for (const auto& line : cells) {
        for (size_t i = 0; i < line.size() && i < widths.size(); ++i) {
            widths[i] = std::max(widths[i], characters(line[i]));
        }
    }
    for (const auto& line : cells) {
        std::string text;
        for (size_t i = 0; i < widths.size(); ++i) {
            const std::string cell = i < line.size() ? line[i] : "";
            text += cell;
            if (i + 1 < widths.size()) {
                text += std::string(widths[i] - characters(cell) + 2, ' ');
            }
        }
        out << text << '\n';
    }
}

std::string formatTime(long long epochMs) {
    if (epochMs <= 0) {
        return "-";
    }
    const std::time_t seconds = static_cast<std::time_t>(epochMs / 1000);
    std::tm local{};
    localtime_r(&seconds, &local);
    char text[32];
    std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S", &local);
    return text;
}

}  // namespace parley::client
