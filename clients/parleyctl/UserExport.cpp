#include "UserExport.h"

#include <optional>

namespace parley::ctl {

using nlohmann::json;

ExportCounts writeUserExport(const std::function<json(json)>& call, const std::string& uid,
                             std::ostream& out) {
    ExportCounts counts;
    // Sections arrive in order (conversations, then messages), so each array is opened once.
    enum class Open { None, Conversations, Messages } open = Open::None;
    std::optional<std::string> after;
    while (true) {
        json request = {{"op", "admin.user.export"}, {"user", uid}};
        if (after) {
            request["after"] = *after;
        }
        json page = call(request);
        if (!page.value("ok", false)) {
            throw ExportRefused(std::move(page));
        }
        if (!after) {
            out << "{\"format\":\"parley.user-export.v1\",\"user\":" << json(uid).dump()
                << ",\"exported_at\":" << page.value("exported_at", json()).dump()
                << ",\"profile\":" << page.value("profile", json()).dump()
                << ",\"conversations\":[";
            open = Open::Conversations;
        }
        for (const auto& conversation : page.value("conversations", json::array())) {
            out << (counts.conversations++ == 0 ? "" : ",") << conversation.dump();
        }
        const json messages = page.value("messages", json::array());
        if (!messages.empty() && open == Open::Conversations) {
            out << "],\"messages\":[";
            open = Open::Messages;
        }
        for (const auto& message : messages) {
            out << (counts.messages++ == 0 ? "" : ",") << message.dump();
        }
        if (!page.value("has_more", false)) {
            break;
        }
        after = page.value("next_after", "");
    }
    out << (open == Open::Conversations ? "],\"messages\":[]}" : "]}") << '\n';
    return counts;
}

}  // namespace parley::ctl
