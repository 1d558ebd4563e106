#include "ChatUi.h"

#include <clocale>
#include <iostream>

#include "ChatApp.h"
#include "ExitCode.h"

namespace parley::client {

int runChatUi(const ConnectionOptions& options) {
    // ncursesw draws (and wcwidth measures) UTF-8 only under a UTF-8 locale from the environment.
    std::setlocale(LC_ALL, "");
    try {
        ui::ChatApp app(options);
        return app.run();
    } catch (const SessionError& error) {
        std::cerr << "parley: " << error.what() << "\n";
        return kUnreachable;  // as the subcommands
    } catch (const std::exception& error) {
        std::cerr << "parley: " << error.what() << "\n";
        return 1;
    }
}

}  // namespace parley::client
