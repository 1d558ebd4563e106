#pragma once

#include <string>

namespace parley::client::ui {

// The input line: the text being written, with a cursor, edited one wide character at a time
// (so a cursor never lands inside a UTF-8 sequence).
class Composer {
  public:
    // What fits in `columns`: the text scrolled so that the cursor stays visible.
    struct View {
        std::wstring text;
        int cursorColumn = 0;
    };

    void insert(wchar_t character);
    void insert(const std::wstring& text);
    void backspace();
    void deleteForward();
    void deleteWordBackward();  // Ctrl-W
    void deleteToStart();       // Ctrl-U
    void deleteToEnd();         // Ctrl-K
    void left();
    void right();
    void home();
    void end();
    void clear();

    bool empty() const { return text_.empty(); }
    const std::wstring& text() const { return text_; }
    size_t cursor() const { return cursor_; }
    std::string utf8() const;
    View view(int columns) const;

  private:
    std::wstring text_;
    size_t cursor_ = 0;
};

}  // namespace parley::client::ui
