// parleyctl: Parley's admin CLI (docs/clients.md).
#include <iostream>

#include "Cli.h"

int main(int argc, char** argv) {
    return parley::ctl::Cli(std::cout, std::cerr).run(argc, argv);
}
