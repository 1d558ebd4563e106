#pragma once

#include <string>

#include "store/Model.h"

namespace parley {

// Throws ProtocolError: not_found for a conversation that does not exist, forbidden for one the
// caller is not a member of (conversation ids are unguessable: existence leaks nothing useful).
void requireMember(store::Access access, const std::string& conv);

}  // namespace parley
