// parley-token: `parleyctl token` on its own, for development and tests. Same arguments.
#include <iostream>
#include <string>
#include <vector>

#include "Token.h"

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    return parley::runTokenCommand(args, std::cout, std::cerr);
}
