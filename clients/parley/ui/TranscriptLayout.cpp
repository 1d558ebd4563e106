#include "TranscriptLayout.h"

#include <ctime>

#include "TextLayout.h"

namespace parley::client::ui {

namespace {

std::wstring formatLocal(int64_t ms, const char* format) {
    const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
    std::tm local{};
    localtime_r(&seconds, &local);
    char buffer[64];
    const size_t length = std::strftime(buffer, sizeof buffer, format, &local);
    return toWide(std::string_view(buffer, length));
}

void addWrapped(std::vector<TranscriptLine>& lines, TranscriptLine::Kind kind,
                const std::wstring& text, int indent, int columns, bool failed = false) {
    for (auto& part : wrap(text, std::max(1, columns - indent))) {
        TranscriptLine line;
        line.kind = kind;
        line.text = std::move(part);
        line.indent = indent;
        line.failed = failed;
        lines.push_back(std::move(line));
    }
}

}  // namespace

std::wstring TranscriptLayout::timeOfDay(int64_t ms) {
    return formatLocal(ms, "%H:%M");
}

std::wstring TranscriptLayout::dayOf(int64_t ms) {
    return formatLocal(ms, "%a %d %b %Y");
}

std::vector<TranscriptLine> TranscriptLayout::build(const ChatModel& model,
                                                    const Conversation& conversation,
                                                    const Options& options) {
    const int columns = std::max(8, options.columns);
    std::vector<TranscriptLine> lines;
    if (options.loadingOlder) {
        addWrapped(lines, TranscriptLine::Kind::Notice, L"loading older messages…", 0, columns);
    } else if (conversation.hasOlder()) {
        addWrapped(lines, TranscriptLine::Kind::Notice, L"↑ older messages: PgUp", 0, columns);
    } else if (conversation.messages.empty() && conversation.outgoing.empty()) {
        addWrapped(lines, TranscriptLine::Kind::Notice, L"No messages yet.", 0, columns);
    }

    const auto receipts = model.receipts(conversation);
    std::wstring lastDay;
    auto addMessage = [&](const ChatMessage& message) {
        const std::wstring day = dayOf(message.ts);
        if (day != lastDay) {
            lastDay = day;
            TranscriptLine line;
            line.kind = TranscriptLine::Kind::Day;
            line.text = L"── " + day + L" ──";
            lines.push_back(std::move(line));
        }
        const bool mine = message.sender == model.self();
        TranscriptLine first;
        first.kind = TranscriptLine::Kind::Message;
        first.time =
            message.state == ChatMessage::State::Sending ? L"  …  " : timeOfDay(message.ts);
        first.sender = toWide(mine ? std::string("you") : model.nameOf(message.sender));
        first.mine = mine;
        first.seq = message.seq;
        first.failed = message.state == ChatMessage::State::Failed;
        // "HH:MM sender: body", the body's next lines under its start; on a narrow pane, or
        // with a long name, the body goes below instead.
        first.sender = fitToColumns(first.sender, std::max(4, columns / 3));
        const int prefix = columnsOf(first.time) + 1 + columnsOf(first.sender) + 2;
        const bool besideName = prefix <= columns / 2;
        const int indent = besideName ? prefix : 2;
        auto parts = wrap(toWide(message.body), std::max(1, columns - indent));
        first.indent = prefix;
        if (besideName) {
            first.text = parts.front();
            parts.erase(parts.begin());
        }
        lines.push_back(std::move(first));
        for (auto& part : parts) {
            TranscriptLine line;
            line.kind = TranscriptLine::Kind::Continuation;
            line.text = std::move(part);
            line.indent = indent;
            line.mine = mine;
            line.seq = message.seq;
            lines.push_back(std::move(line));
        }
        if (message.state == ChatMessage::State::Failed) {
            addWrapped(lines, TranscriptLine::Kind::Notice, L"✗ not sent: " + toWide(message.error),
                       indent, columns, true);
        }
        const auto receipt = message.seq > 0 ? receipts.find(message.seq) : receipts.end();
        if (receipt != receipts.end()) {
            std::string readers;
            for (const auto& name : receipt->second) {
                readers += (readers.empty() ? "" : ", ") + name;
            }
            addWrapped(lines, TranscriptLine::Kind::Receipt, L"✓ read by " + toWide(readers),
                       indent, columns);
            lines.back().seq = message.seq;
        }
    };
    for (const auto& [seq, message] : conversation.messages) {
        addMessage(message);
    }
    for (const auto& message : conversation.outgoing) {
        addMessage(message);
    }
    return lines;
}

}  // namespace parley::client::ui
