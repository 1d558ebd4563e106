#include "TextLayout.h"

#include <cwchar>

namespace parley::client::ui {

namespace {

constexpr wchar_t kReplacement = 0xFFFD;

bool isControl(char32_t code) {
    return code < 0x20 || (code >= 0x7F && code < 0xA0);
}

}  // namespace

std::wstring toWide(std::string_view utf8) {
    std::wstring text;
    text.reserve(utf8.size());
    size_t i = 0;
    while (i < utf8.size()) {
        const auto lead = static_cast<unsigned char>(utf8[i]);
        char32_t code = 0;
        size_t length = 0;
        char32_t minimum = 0;
        if (lead < 0x80) {
            code = lead;
            length = 1;
        } else if ((lead & 0xE0) == 0xC0) {
            code = lead & 0x1F;
            length = 2;
            minimum = 0x80;
        } else if ((lead & 0xF0) == 0xE0) {
            code = lead & 0x0F;
            length = 3;
            minimum = 0x800;
        } else if ((lead & 0xF8) == 0xF0) {
            code = lead & 0x07;
            length = 4;
            minimum = 0x10000;
        }
        bool valid = length > 0 && i + length <= utf8.size();
        for (size_t k = 1; valid && k < length; ++k) {
            const auto next = static_cast<unsigned char>(utf8[i + k]);
            valid = (next & 0xC0) == 0x80;
            code = (code << 6) | (next & 0x3F);
        }
        // Overlong forms, surrogates and values past Unicode are not characters.
        valid = valid && code >= minimum && code <= 0x10FFFF && !(code >= 0xD800 && code <= 0xDFFF);
        if (!valid) {
            text += kReplacement;
            ++i;  // resynchronise on the next byte
            continue;
        }
        i += length;
        if (code == '\n') {
            text += L'\n';
        } else if (code == '\t') {
            text += L' ';
        } else if (isControl(code)) {
            text += kReplacement;
        } else {
            text += static_cast<wchar_t>(code);
        }
    }
    return text;
}

std::string toUtf8(std::wstring_view text) {
    std::string utf8;
    utf8.reserve(text.size());
    for (const wchar_t character : text) {
        auto code = static_cast<char32_t>(character);
        if (code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
            code = kReplacement;
        }
        if (code < 0x80) {
            utf8 += static_cast<char>(code);
        } else if (code < 0x800) {
            utf8 += static_cast<char>(0xC0 | (code >> 6));
            utf8 += static_cast<char>(0x80 | (code & 0x3F));
        } else if (code < 0x10000) {
            utf8 += static_cast<char>(0xE0 | (code >> 12));
            utf8 += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
            utf8 += static_cast<char>(0x80 | (code & 0x3F));
        } else {
            utf8 += static_cast<char>(0xF0 | (code >> 18));
            utf8 += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
            utf8 += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
            utf8 += static_cast<char>(0x80 | (code & 0x3F));
        }
    }
    return utf8;
}

int columnsOf(wchar_t character) {
    const int columns = ::wcwidth(character);
    return columns < 0 ? 1 : columns;
}

int columnsOf(std::wstring_view text) {
    int columns = 0;
    for (const wchar_t character : text) {
        columns += columnsOf(character);
    }
    return columns;
}

std::wstring fitToColumns(std::wstring_view text, int columns) {
    std::wstring fitted;
    int used = 0;
    for (const wchar_t character : text) {
        const int width = columnsOf(character);
        if (used + width > columns) {
            break;
        }
        used += width;
        fitted += character;
    }
    return fitted;
}

std::wstring ellipsize(std::wstring_view text, int columns) {
    if (columnsOf(text) <= columns) {
        return std::wstring(text);
    }
    if (columns < 1) {
        return {};
    }
    return fitToColumns(text, columns - 1) + L"…";
}

std::wstring padToColumns(std::wstring_view text, int columns) {
    std::wstring padded = fitToColumns(text, columns);
    const int used = columnsOf(padded);
    if (used < columns) {
        padded.append(static_cast<size_t>(columns - used), L' ');
    }
    return padded;
}

std::vector<std::wstring> wrap(std::wstring_view text, int columns) {
    std::vector<std::wstring> lines;
    if (columns < 1) {
        columns = 1;
    }
    size_t paragraphStart = 0;
    while (true) {
        const size_t newline = text.find(L'\n', paragraphStart);
        std::wstring_view paragraph = text.substr(paragraphStart, newline == std::wstring_view::npos
                                                                      ? std::wstring_view::npos
                                                                      : newline - paragraphStart);
        // Greedy: fill a line, then go back to its last space if the next word would not fit.
        while (columnsOf(paragraph) > columns) {
            size_t end = 0;
            int used = 0;
            while (end < paragraph.size() && used + columnsOf(paragraph[end]) <= columns) {
                used += columnsOf(paragraph[end]);
                ++end;
            }
            if (end == 0) {
                end = 1;  // a character wider than the line: it goes alone
            }
            size_t cut = end;
            const size_t space = paragraph.substr(0, end + 1).rfind(L' ');
            if (space != std::wstring_view::npos && space > 0) {
                cut = space;
            }
            lines.emplace_back(paragraph.substr(0, cut));
            paragraph.remove_prefix(cut);
            while (!paragraph.empty() && paragraph.front() == L' ') {
                paragraph.remove_prefix(1);
            }
        }
        lines.emplace_back(paragraph);
        if (newline == std::wstring_view::npos) {
            break;
        }
        paragraphStart = newline + 1;
    }
    return lines;
}

}  // namespace parley::client::ui
