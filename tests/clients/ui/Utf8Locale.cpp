// Display widths (wcwidth) need a UTF-8 LC_CTYPE, as runChatUi sets from the environment; the
// unit tests fix C.UTF-8, and UTC so that times print the same everywhere.
#include <clocale>
#include <cstdlib>
#include <ctime>

namespace {

const bool kUtf8Locale = [] {
    ::setenv("TZ", "UTC", 1);
    ::tzset();
    return std::setlocale(LC_ALL, "C.UTF-8") != nullptr;
}();

}  // namespace
