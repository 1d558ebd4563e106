#include "Composer.h"

#include "TextLayout.h"

namespace parley::client::ui {

void Composer::insert(wchar_t character) {
    text_.insert(cursor_, 1, character);
    ++cursor_;
}

void Composer::insert(const std::wstring& text) {
    text_.insert(cursor_, text);
    cursor_ += text.size();
}

void Composer::backspace() {
    if (cursor_ > 0) {
        text_.erase(--cursor_, 1);
    }
}

void Composer::deleteForward() {
    if (cursor_ < text_.size()) {
        text_.erase(cursor_, 1);
    }
}

void Composer::deleteWordBackward() {
    size_t start = cursor_;
    while (start > 0 && text_[start - 1] == L' ') {
        --start;
    }
    while (start > 0 && text_[start - 1] != L' ') {
        --start;
    }
    text_.erase(start, cursor_ - start);
    cursor_ = start;
}

void Composer::deleteToStart() {
    text_.erase(0, cursor_);
    cursor_ = 0;
}

void Composer::deleteToEnd() {
    text_.erase(cursor_);
}

void Composer::left() {
    if (cursor_ > 0) {
        --cursor_;
    }
}

void Composer::right() {
    if (cursor_ < text_.size()) {
        ++cursor_;
    }
}

void Composer::home() {
    cursor_ = 0;
}

void Composer::end() {
    cursor_ = text_.size();
}

void Composer::clear() {
    text_.clear();
    cursor_ = 0;
}

std::string Composer::utf8() const {
    return toUtf8(text_);
}

Composer::View Composer::view(int columns) const {
    View view;
    if (columns < 2) {
        return view;
    }
    // Start far enough right that the cursor (one column after the text at the end) fits.
    size_t start = 0;
    int beforeCursor = columnsOf(std::wstring_view(text_).substr(0, cursor_));
    while (beforeCursor >= columns && start < cursor_) {
        beforeCursor -= columnsOf(text_[start]);
        ++start;
    }
    view.text = fitToColumns(std::wstring_view(text_).substr(start), columns);
    view.cursorColumn = beforeCursor;
    return view;
}

}  // namespace parley::client::ui
