#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace parley::ctl {

// How parleyctl shows a successful reply to a human: a table for lists, aligned "field value"
// lines for one thing. Times are local. Scripts use --json instead.

void printUser(const nlohmann::json& reply, std::ostream& out);     // admin.user.get / set
void printUsers(const nlohmann::json& reply, std::ostream& out);    // admin.users
void printListing(const nlohmann::json& reply, std::ostream& out);  // listing.get / upsert
void printNotifyPreferences(const nlohmann::json& reply,
                            std::ostream& out);                        // notify.prefs.get / set
void printReports(const nlohmann::json& reply, std::ostream& out);     // mod.reports
void printReport(const nlohmann::json& reply, std::ostream& out);      // mod.report.show / resolve
void printSanction(const nlohmann::json& reply, std::ostream& out);    // mod.mute / suspend
void printLift(const nlohmann::json& reply, std::ostream& out);        // mod.lift
void printAudit(const nlohmann::json& reply, std::ostream& out);       // mod.audit
void printExtensions(const nlohmann::json& reply, std::ostream& out);  // admin.extensions
void printReload(const nlohmann::json& reply, std::ostream& out);      // admin.reload
void printErasure(const nlohmann::json& reply, std::ostream& out);     // admin.user.erase

// Lines "label  value", labels padded to the longest.
void printFields(std::ostream& out, const std::vector<std::pair<std::string, std::string>>& fields);

// A field for display: text as is, "-" when absent, null or empty, other JSON as JSON.
std::string cell(const nlohmann::json& object, const char* key);

}  // namespace parley::ctl
