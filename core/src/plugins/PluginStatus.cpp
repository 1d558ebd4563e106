#include "plugins/PluginStatus.h"

namespace parley {

parley_status statusOf(ErrorCode code) {
    switch (code) {
        case ErrorCode::BadRequest:
            return PARLEY_ERR_INVALID;
        case ErrorCode::NotFound:
            return PARLEY_ERR_NOT_FOUND;
        case ErrorCode::TooLarge:
            return PARLEY_ERR_TOO_LARGE;
        case ErrorCode::Forbidden:
            return PARLEY_ERR_FORBIDDEN;
        case ErrorCode::Unavailable:
            return PARLEY_ERR_UNAVAILABLE;
        default:
            return PARLEY_ERR_INTERNAL;
    }
}

std::string describeStatus(int status) {
    const char* name = nullptr;
    switch (status) {
        case PARLEY_OK:
            name = "PARLEY_OK";
            break;
        case PARLEY_DEFER:
            name = "PARLEY_DEFER";
            break;
        case PARLEY_REJECT:
            name = "PARLEY_REJECT";
            break;
        case PARLEY_ERR_INVALID:
            name = "PARLEY_ERR_INVALID";
            break;
        case PARLEY_ERR_NOT_FOUND:
            name = "PARLEY_ERR_NOT_FOUND";
            break;
        case PARLEY_ERR_EXISTS:
            name = "PARLEY_ERR_EXISTS";
            break;
        case PARLEY_ERR_UNAVAILABLE:
            name = "PARLEY_ERR_UNAVAILABLE";
            break;
        case PARLEY_ERR_TOO_LARGE:
            name = "PARLEY_ERR_TOO_LARGE";
            break;
        case PARLEY_ERR_FORBIDDEN:
            name = "PARLEY_ERR_FORBIDDEN";
            break;
        case PARLEY_ERR_VERSION:
            name = "PARLEY_ERR_VERSION";
            break;
        case PARLEY_ERR_INTERNAL:
            name = "PARLEY_ERR_INTERNAL";
            break;
        default:
            name = "not a parley_status";
            break;
    }
    return "status " + std::to_string(status) + " (" + name + ")";
}

}  // namespace parley
