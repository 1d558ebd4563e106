#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace parley::client::ui {

// Text as the terminal shows it: ncursesw draws wide characters, and columns (not bytes, not
// code points) decide where a line ends. Display widths come from wcwidth(), so the process
// needs a UTF-8 LC_CTYPE (runChatUi calls setlocale).

// Decodes UTF-8. What a peer sent is not trusted to be tidy: an invalid sequence becomes U+FFFD,
// a tab a space, and other control characters (which would move the cursor or change the
// terminal's state) become U+FFFD. '\n' is kept: wrap() breaks there.
std::wstring toWide(std::string_view utf8);
std::string toUtf8(std::wstring_view text);

// Columns a character takes: 0 for combining marks, 2 for wide ones (CJK, most emoji), 1 for a
// character wcwidth() does not know (so it still takes room).
int columnsOf(wchar_t character);
int columnsOf(std::wstring_view text);

// The longest prefix of `text` that fits in `columns`.
std::wstring fitToColumns(std::wstring_view text, int columns);
// `text` if it fits in `columns`, else cut with a trailing "…".
std::wstring ellipsize(std::wstring_view text, int columns);
// `text` cut or padded with spaces to exactly `columns`.
std::wstring padToColumns(std::wstring_view text, int columns);

// Breaks `text` into lines of at most `columns` columns: at '\n', else after the last space
// that fits, else (a long word) wherever it must. Always at least one line.
std::vector<std::wstring> wrap(std::wstring_view text, int columns);

}  // namespace parley::client::ui
