#include "transport/ConnectFailure.h"

#include <MQTTReasonCodes.h>

namespace parley {

namespace {
bool isLoginRefusal(int code) {
    return code == MQTTREASONCODE_BAD_USER_NAME_OR_PASSWORD ||
           code == MQTTREASONCODE_NOT_AUTHORIZED;
}
}  // namespace

bool isLoginRefused(const mqtt::exception& error) {
    // Paho C 1.3.12 reports a refusing CONNACK as the failure's code; the reason code too, in
    // some paths.
    return isLoginRefusal(error.get_return_code()) || isLoginRefusal(error.get_reason_code());
}

std::string describeConnectFailure(const mqtt::exception& error) {
    if (isLoginRefused(error)) {
        return "not authorized: wrong user name, password or token";
    }
    return error.what();
}

}  // namespace parley
