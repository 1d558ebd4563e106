#pragma once

#include <mqtt/exception.h>

#include <string>

namespace parley {

// What a failed MQTT connect means, in words a person acts on. A refused login (MQTT 5 CONNACK
// 134 "bad user name or password" or 135 "not authorized", which Mosquitto answers to a wrong
// password or a rejected token) is "not authorized: wrong user name, password or token"; Paho
// says only "MQTT error [135]: CONNACK return code". Anything else keeps Paho's text.
std::string describeConnectFailure(const mqtt::exception& error);

// True for a refused login, as above.
bool isLoginRefused(const mqtt::exception& error);

// The same for a CONNACK reason code read without Paho (MosquittoTransport).
bool isLoginRefusalCode(int reasonCode);
std::string describeLoginRefusal();

}  // namespace parley
