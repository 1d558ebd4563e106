#include "parley/mqtt/ConnectFailure.h"

#include <MQTTReasonCodes.h>

namespace parley {

bool isLoginRefusalCode(int code) {
    return code == MQTTREASONCODE_BAD_USER_NAME_OR_PASSWORD ||
           code == MQTTREASONCODE_NOT_AUTHORIZED;
}

std::string describeLoginRefusal() {
    return "not authorized: wrong user name, password or token";
}

bool isLoginRefused(const mqtt::exception& error) {
    // Paho C 1.3.12 reports a refusing CONNACK as the failure's code; the reason code too, in
    // some paths.
    return isLoginRefusalCode(error.get_return_code()) ||
           isLoginRefusalCode(error.get_reason_code());
}

std::string describeConnectFailure(const mqtt::exception& error) {
    if (isLoginRefused(error)) {
        return describeLoginRefusal();
    }
    return error.what();
}

}  // namespace parley
