#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <ostream>
#include <stdexcept>
#include <string>

namespace parley::ctl {

// A page of the export was refused; `reply` is the server's answer.
class ExportRefused : public std::runtime_error {
  public:
    explicit ExportRefused(nlohmann::json reply)
        : std::runtime_error("export refused"), reply_(std::move(reply)) {}
    const nlohmann::json& reply() const { return reply_; }

  private:
    nlohmann::json reply_;
};

struct ExportCounts {
    size_t conversations = 0;
    size_t messages = 0;
};

// Asks admin.user.export page after page and writes one JSON document as the pages arrive, so a
// user with years of messages costs parleyctl one page of memory, not the whole export:
//   {"format":"parley.user-export.v1","user":UID,"exported_at":MS,"profile":{...},
//    "conversations":[...],"messages":[...]}
// `call` sends one command and returns the reply. Throws ExportRefused (the document is then
// unfinished: write to a temporary file).
ExportCounts writeUserExport(const std::function<nlohmann::json(nlohmann::json)>& call,
                             const std::string& uid, std::ostream& out);

}  // namespace parley::ctl
