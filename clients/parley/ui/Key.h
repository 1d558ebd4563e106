#pragma once

namespace parley::client::ui {

// A key press, as ChatScreen reads it from the terminal (so nothing else needs curses.h, whose
// macros clash with ordinary names such as clear() and erase()).
struct Key {
    enum class Code {
        Character,  // `character`
        Control,    // Ctrl + `character` ('a' .. 'z')
        Enter,
        Tab,
        BackTab,
        Backspace,
        Delete,
        Escape,
        Up,
        Down,
        Left,
        Right,
        Home,
        End,
        PageUp,
        PageDown,
        Help,    // F1
        Resize,  // the terminal changed size
        Other,
    };

    Code code = Code::Other;
    wchar_t character = 0;
};

}  // namespace parley::client::ui
