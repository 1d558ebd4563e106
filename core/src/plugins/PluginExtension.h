#pragma once

#include <memory>

#include "extensions/Extension.h"
#include "extensions/ExtensionConfig.h"
#include "extensions/ExtensionServices.h"

namespace parley {

// Loads a shared-object plugin (parley/plugin.h): dlopen(RTLD_NOW | RTLD_LOCAL), the three entry
// points resolved, the ABI version negotiated, then init with the host table. Throws
// ExtensionError naming the file and the reason (missing file or symbol, unsupported version,
// duplicate name, failed init: everything the plugin registered is removed again).
std::unique_ptr<Extension> loadPlugin(const ExtensionConfig& config, ExtensionServices& services);

// What --check-config does with a plugin: everything loadPlugin does before init (dlopen, the three
// entry points, the ABI version negotiated; the library's static constructors and
// parley_plugin_version run), then closes it. Init is not called: it registers hooks with a
// running server, which a check does not have. Returns the ABI version agreed; throws
// ExtensionError as loadPlugin does.
int checkPlugin(const ExtensionConfig& config);

}  // namespace parley
