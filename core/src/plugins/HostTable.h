#pragma once

#include "parley/plugin.h"

namespace parley {

// The parley_host table handed to every plugin's init. One table for all plugins: every function
// finds its plugin (or call) from the handle it is given. Every function is noexcept towards the
// plugin: errors come back as a parley_status, the reason in parleyd's log.
const parley_host& hostTable();

}  // namespace parley
