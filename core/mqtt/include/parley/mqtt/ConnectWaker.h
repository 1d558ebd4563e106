#pragma once

#include <mqtt/async_client.h>

#include <chrono>

namespace parley {

// Paho C 1.3.12 (eclipse-paho/paho.mqtt.c#1430): all clients of a process share one receive
// thread that polls with a 1 s timeout and only looks at a new socket on its next round, so every
// connect after the first one takes ~2.1 s. Traffic on any connected client ends the round: while
// a client connects, another one sends UNSUBSCRIBE for a topic nobody uses (the broker answers
// UNSUBACK and changes nothing). That brings a connect down to ~20 ms, which matters to a process
// with many connections (the load generator, the tests).
class ConnectWaker {
  public:
    // A connected client that may be used to wake the receive thread; remove() it before it is
    // destroyed.
    static void add(mqtt::async_client* client);
    static void remove(mqtt::async_client* client);
    // Waits for a connect token, waking the receive thread meanwhile. Returns false on timeout;
    // throws what the token throws (a refused connection).
    static bool waitForConnect(const mqtt::token_ptr& token, std::chrono::milliseconds timeout);
};

}  // namespace parley
