#include "ChatScreen.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "TextLayout.h"
#include "TranscriptLayout.h"

// curses.h defines macros named like ordinary functions (clear, erase, move, timeout): keep them
// out, and out of every other file.
#define NCURSES_NOMACROS 1
#define NCURSES_WIDECHAR 1
#include <curses.h>

namespace parley::client::ui {

namespace {

enum Pair : short {
    kOnline = 1,
    kAway,
    kMine,
    kTheirs,
    kError,
    kReceipt,
};

constexpr int kMinRows = 8;
constexpr int kMinColumns = 40;

// Writes `text` at (row, column), cut to `columns`, with `attributes` and colour `pair` (0:
// the terminal's default).
void put(int row, int column, const std::wstring& text, int columns, attr_t attributes = A_NORMAL,
         short pair = 0) {
    if (columns <= 0) {
        return;
    }
    const std::wstring fitted = fitToColumns(text, columns);
    wattr_set(stdscr, attributes, pair, nullptr);
    mvwaddnwstr(stdscr, row, column, fitted.c_str(), static_cast<int>(fitted.size()));
    wattr_set(stdscr, A_NORMAL, 0, nullptr);
}

void fill(int row, int column, int columns, attr_t attributes = A_NORMAL) {
    if (columns > 0) {
        put(row, column, std::wstring(static_cast<size_t>(columns), L' '), columns, attributes);
    }
}

std::wstring presenceDot(const std::string& state) {
    if (state == "online") {
        return L"●";
    }
    if (state == "away") {
        return L"◐";
    }
    if (state == "offline") {
        return L"○";
    }
    return L"·";
}

short presencePair(const std::string& state) {
    if (state == "online") {
        return kOnline;
    }
    if (state == "away") {
        return kAway;
    }
    return 0;
}

std::wstring typingText(const std::vector<std::string>& names) {
    if (names.empty()) {
        return {};
    }
    if (names.size() == 1) {
        return toWide(names[0]) + L" is typing…";
    }
    if (names.size() == 2) {
        return toWide(names[0]) + L" and " + toWide(names[1]) + L" are typing…";
    }
    return std::to_wstring(names.size()) + L" people are typing…";
}

}  // namespace

ChatScreen::ChatScreen() {
    // newterm, unlike initscr, reports an unusable terminal instead of exiting the process.
    screen_ = newterm(nullptr, stdout, stdin);
    if (screen_ == nullptr) {
        throw std::runtime_error("cannot use this terminal (TERM unknown or not a terminal)");
    }
    set_term(screen_);
    raw();  // Ctrl-C and Ctrl-Z arrive as keys: the UI leaves cleanly instead of dying mid-draw
    noecho();
    nonl();
    intrflush(stdscr, FALSE);
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    set_escdelay(25);  // Esc alone should not feel slow
    if (has_colors()) {
        start_color();
        use_default_colors();
        init_pair(kOnline, COLOR_GREEN, -1);
        init_pair(kAway, COLOR_YELLOW, -1);
        init_pair(kMine, COLOR_CYAN, -1);
        init_pair(kTheirs, COLOR_MAGENTA, -1);
        init_pair(kError, COLOR_RED, -1);
        init_pair(kReceipt, COLOR_GREEN, -1);
        colors_ = true;
    }
}

ChatScreen::~ChatScreen() {
    endwin();
    delscreen(screen_);
}

std::optional<Key> ChatScreen::readKey() {
    wint_t character = 0;
    const int kind = wget_wch(stdscr, &character);
    if (kind == ERR) {
        return std::nullopt;
    }
    Key key;
    if (kind == KEY_CODE_YES) {
        switch (character) {
            case KEY_UP:
                key.code = Key::Code::Up;
                break;
            case KEY_DOWN:
                key.code = Key::Code::Down;
                break;
            case KEY_LEFT:
                key.code = Key::Code::Left;
                break;
            case KEY_RIGHT:
                key.code = Key::Code::Right;
                break;
            case KEY_HOME:
                key.code = Key::Code::Home;
                break;
            case KEY_END:
                key.code = Key::Code::End;
                break;
            case KEY_PPAGE:
                key.code = Key::Code::PageUp;
                break;
            case KEY_NPAGE:
                key.code = Key::Code::PageDown;
                break;
            case KEY_BACKSPACE:
                key.code = Key::Code::Backspace;
                break;
            case KEY_DC:
                key.code = Key::Code::Delete;
                break;
            case KEY_ENTER:
                key.code = Key::Code::Enter;
                break;
            case KEY_BTAB:
                key.code = Key::Code::BackTab;
                break;
            case KEY_RESIZE:
                key.code = Key::Code::Resize;
                break;
            default:
                key.code = character == KEY_F(1) ? Key::Code::Help : Key::Code::Other;
        }
        return key;
    }
    switch (character) {
        case L'\t':
            key.code = Key::Code::Tab;
            break;
        case L'\r':
        case L'\n':
            key.code = Key::Code::Enter;
            break;
        case 127:
        case 8:
            key.code = Key::Code::Backspace;
            break;
        case 27:
            key.code = Key::Code::Escape;
            break;
        default:
            if (character < 32) {
                key.code = Key::Code::Control;
                key.character = static_cast<wchar_t>(L'a' + character - 1);
            } else {
                key.code = Key::Code::Character;
                key.character = static_cast<wchar_t>(character);
            }
    }
    return key;
}

void ChatScreen::invalidate() {
    clearok(curscr, TRUE);
}

ChatScreen::Drawn ChatScreen::draw(const ChatModel& model, const Frame& frame) {
    Drawn drawn;
    werase(stdscr);
    const int rows = getmaxy(stdscr);
    const int columns = getmaxx(stdscr);
    if (rows < kMinRows || columns < kMinColumns) {
        put(0, 0, L"The terminal is too small for Parley.", columns);
        wnoutrefresh(stdscr);
        doupdate();
        return drawn;
    }
    const int listWidth = std::clamp(columns / 4, 18, 32);
    const int chatLeft = listWidth + 1;
    const int chatWidth = columns - chatLeft;
    const int bodyTop = 1;
    const int bodyRows = rows - 3;  // list and chat (its last row: who is typing)

    // Header: who we are over the list, the open conversation over the chat.
    fill(0, 0, columns, A_REVERSE);
    put(0, 0, L" Parley · " + toWide(model.nameOf(model.self())), listWidth, A_REVERSE | A_BOLD);
    for (int row = bodyTop; row < bodyTop + bodyRows; ++row) {
        put(row, listWidth, L"│", 1, A_DIM);
    }

    drawList(model, frame, bodyTop, bodyRows, listWidth);
    drawChat(model, frame, chatLeft, bodyTop, bodyRows, chatWidth, drawn);

    // Status line.
    const int statusRow = rows - 2;
    fill(statusRow, 0, columns, A_REVERSE);
    std::wstring state = frame.connected ? L" ● connected as " + toWide(model.self())
                                         : std::wstring(L" ○ reconnecting…");
    put(statusRow, 0, state, columns, A_REVERSE | A_BOLD,
        frame.connected ? (colors_ ? kOnline : 0) : (colors_ ? kError : 0));
    int used = columnsOf(state);
    const int64_t unread = model.unreadTotal();
    if (unread > 0) {
        const std::wstring text = L" · unread " + std::to_wstring(unread);
        put(statusRow, used, text, columns - used, A_REVERSE | A_BOLD);
        used += columnsOf(text);
    }
    const std::wstring keys = frame.listFocus ? L"↑↓ choose · Enter open · Tab chat · F1 help "
                                              : L"Enter send · PgUp older · Tab list · F1 help ";
    int keysAt = columns - columnsOf(keys);
    if (!frame.notice.empty()) {
        // A notice matters more than the key hints: they give way when it is long.
        const std::wstring notice = L" · " + toWide(frame.notice);
        if (used + columnsOf(notice) >= keysAt) {
            keysAt = columns;
        }
        put(statusRow, used, ellipsize(notice, keysAt - used - 1), keysAt - used - 1,
            A_REVERSE | A_BOLD, frame.noticeIsError && colors_ ? kError : 0);
        used += columnsOf(notice);
    }
    if (keysAt > used && keysAt < columns) {
        put(statusRow, keysAt, keys, columns - keysAt, A_REVERSE);
    }

    // Input line.
    const int inputRow = rows - 1;
    put(inputRow, 0, L"› ", 2, A_BOLD);
    Composer::View input;
    if (frame.composer != nullptr) {
        input = frame.composer->view(columns - 3);
    }
    if (input.text.empty() && frame.listFocus) {
        put(inputRow, 2, L"type a message, or /open <user>, /group <users> <title>, /help",
            columns - 3, A_DIM);
    } else {
        put(inputRow, 2, input.text, columns - 3);
    }

    if (frame.help != nullptr) {
        drawHelp(*frame.help, rows, columns);
    }
    const bool cursor = frame.help == nullptr && !frame.listFocus;
    curs_set(cursor ? 1 : 0);
    wmove(stdscr, inputRow, 2 + input.cursorColumn);
    wnoutrefresh(stdscr);
    doupdate();
    return drawn;
}

void ChatScreen::drawList(const ChatModel& model, const Frame& frame, int top, int rows,
                          int width) {
    const auto conversations = model.ordered();
    if (conversations.empty()) {
        put(top + 1, 1, L"No conversations.", width - 1, A_DIM);
        put(top + 2, 1, L"/open <user>", width - 1, A_DIM);
        return;
    }
    // Two rows each: the title with its badge, then the last message.
    const int visible = std::max(1, rows / 2);
    int selectedIndex = 0;
    for (size_t i = 0; i < conversations.size(); ++i) {
        if (conversations[i]->id == frame.selected) {
            selectedIndex = static_cast<int>(i);
        }
    }
    const int first = std::max(0, selectedIndex - visible + 1);
    for (int i = first; i < static_cast<int>(conversations.size()) && i - first < visible; ++i) {
        const Conversation& conversation = *conversations[static_cast<size_t>(i)];
        const int row = top + (i - first) * 2;
        const bool selected = conversation.id == frame.selected;
        const attr_t highlight = selected ? (frame.listFocus ? A_REVERSE : A_BOLD) : A_NORMAL;
        if (selected) {
            fill(row, 0, width, highlight);
            fill(row + 1, 0, width, highlight);
        }
        std::wstring dot = L"#";
        short dotPair = 0;
        if (conversation.direct()) {
            const std::string state = model.presenceOf(model.peerOf(conversation));
            dot = presenceDot(state);
            dotPair = colors_ ? presencePair(state) : 0;
        }
        put(row, 1, dot, 1, highlight | A_BOLD, dotPair);
        std::wstring badge;
        if (conversation.unread > 0) {
            badge = L" (" + std::to_wstring(conversation.unread) + L")";
        }
        const int badgeWidth = columnsOf(badge);
        std::wstring title = toWide(model.titleOf(conversation));
        if (conversation.context && !conversation.context->status.empty()) {
            title += L" [" + toWide(conversation.context->status) + L"]";
        }
        put(row, 3, ellipsize(title, width - 3 - badgeWidth), width - 3 - badgeWidth,
            highlight | (conversation.unread > 0 ? A_BOLD : A_NORMAL));
        if (!badge.empty()) {
            put(row, width - badgeWidth, badge, badgeWidth, highlight | A_BOLD);
        }
        if (conversation.preview) {
            const auto& preview = *conversation.preview;
            const std::string who =
                preview.sender == model.self() ? "you" : model.nameOf(preview.sender);
            std::wstring line = toWide(who + ": " + preview.body);
            std::replace(line.begin(), line.end(), L'\n', L' ');
            put(row + 1, 3, ellipsize(line, width - 3), width - 3, highlight | A_DIM);
        }
    }
}

void ChatScreen::drawChat(const ChatModel& model, const Frame& frame, int left, int top, int rows,
                          int width, Drawn& drawn) {
    const Conversation* conversation = model.find(frame.selected);
    if (conversation == nullptr) {
        const std::vector<std::wstring> hints = {
            L"No conversation open.",
            L"",
            L"  /open <user>                      a 1:1 conversation",
            L"  /open <user> listing <id> [title] one about a listing",
            L"  /group <user,user,...> [title]    a group",
            L"  F1 or /help                       every key and command",
        };
        for (size_t i = 0; i < hints.size() && static_cast<int>(i) < rows; ++i) {
            put(top + 1 + static_cast<int>(i), left + 1, hints[i], width - 1);
        }
        return;
    }

    // Header: title, then presence (1:1) or member count (group).
    std::wstring title = L" " + toWide(model.titleOf(*conversation));
    if (conversation->context && !conversation->context->status.empty()) {
        title += L" [" + toWide(conversation->context->status) + L"]";
    }
    std::wstring detail;
    if (conversation->direct()) {
        detail = toWide(model.presenceOf(model.peerOf(*conversation)));
    } else {
        detail = std::to_wstring(conversation->members.size()) + L" members";
    }
    detail += L" ";
    const int detailWidth = columnsOf(detail);
    put(0, left, ellipsize(title, width - detailWidth - 1), width - detailWidth - 1,
        A_REVERSE | A_BOLD);
    put(0, left + width - detailWidth, detail, detailWidth, A_REVERSE);

    // Transcript, bottom-anchored: scrollOffset lines up from the newest.
    const int textLeft = left + 1;
    const int textWidth = width - 1;
    const int pageLines = rows - 1;  // the last row says who is typing
    const auto lines =
        TranscriptLayout::build(model, *conversation, {textWidth, frame.loadingOlder});
    const int total = static_cast<int>(lines.size());
    drawn.pageLines = std::max(1, pageLines);
    drawn.maxScroll = std::max(0, total - pageLines);
    drawn.scrollOffset = std::clamp(frame.scrollOffset, 0, drawn.maxScroll);
    const int first = std::max(0, total - pageLines - drawn.scrollOffset);
    // A short transcript sits at the bottom, next to the input line, as in most chat apps.
    const int firstRow = top + std::max(0, pageLines - total);
    for (int i = first; i < total && i - first < pageLines; ++i) {
        const TranscriptLine& line = lines[static_cast<size_t>(i)];
        const int row = firstRow + (i - first);
        drawn.lastVisibleSeq = std::max(drawn.lastVisibleSeq, line.seq);
        switch (line.kind) {
            case TranscriptLine::Kind::Day: {
                const int at = std::max(0, (textWidth - columnsOf(line.text)) / 2);
                put(row, textLeft + at, line.text, textWidth - at, A_DIM);
                break;
            }
            case TranscriptLine::Kind::Message: {
                put(row, textLeft, line.time, textWidth, A_DIM);
                int at = columnsOf(line.time) + 1;
                const short pair = colors_ ? (line.mine ? kMine : kTheirs) : 0;
                put(row, textLeft + at, line.sender + L":", textWidth - at, A_BOLD, pair);
                put(row, textLeft + line.indent, line.text, textWidth - line.indent, A_NORMAL,
                    line.failed && colors_ ? kError : 0);
                break;
            }
            case TranscriptLine::Kind::Continuation:
                put(row, textLeft + line.indent, line.text, textWidth - line.indent);
                break;
            case TranscriptLine::Kind::Receipt:
                put(row, textLeft + line.indent, line.text, textWidth - line.indent, A_DIM,
                    colors_ ? kReceipt : 0);
                break;
            case TranscriptLine::Kind::Notice:
                put(row, textLeft + line.indent, line.text, textWidth - line.indent,
                    line.failed ? A_BOLD : A_DIM, line.failed && colors_ ? kError : 0);
                break;
        }
    }

    // Who is typing, and whether newer lines are below.
    const int typingRow = top + rows - 1;
    put(typingRow, textLeft, typingText(model.typingIn(*conversation, frame.now)), textWidth,
        A_DIM | A_ITALIC);
    if (drawn.scrollOffset > 0) {
        const std::wstring more = L" ↓ more below: PgDn ";
        put(typingRow, left + width - columnsOf(more), more, columnsOf(more), A_BOLD);
    }
}

void ChatScreen::drawHelp(const std::vector<std::string>& help, int rows, int columns) {
    int width = 0;
    for (const auto& line : help) {
        width = std::max(width, columnsOf(toWide(line)));
    }
    width = std::min(width + 4, columns - 2);
    const int height = std::min(static_cast<int>(help.size()) + 2, rows - 1);
    const int top = std::max(0, (rows - height) / 2);
    const int left = std::max(0, (columns - width) / 2);
    const std::wstring rule(static_cast<size_t>(width - 2), L'─');
    put(top, left, L"┌" + rule + L"┐", width, A_BOLD);
    for (int i = 1; i < height - 1; ++i) {
        fill(top + i, left, width);
        put(top + i, left, L"│", 1, A_BOLD);
        put(top + i, left + 2, toWide(help[static_cast<size_t>(i - 1)]), width - 4);
        put(top + i, left + width - 1, L"│", 1, A_BOLD);
    }
    put(top + height - 1, left, L"└" + rule + L"┘", width, A_BOLD);
}

}  // namespace parley::client::ui
