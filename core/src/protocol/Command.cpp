#include "protocol/Command.h"

namespace parley {

const std::string& Command::orderingKey() const {
    auto conv = args.find("conv");
    if (conv != args.end() && conv->is_string()) {
        return conv->get_ref<const std::string&>();
    }
    return uid;
}

}  // namespace parley
