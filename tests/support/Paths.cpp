#include "Paths.h"

namespace parley::testing {

std::string sourceDir() {
    return PARLEY_SOURCE_DIR;
}

std::string parleydPath() {
    return PARLEY_PARLEYD_PATH;
}

}  // namespace parley::testing
