#pragma once

#include <mqtt/async_client.h>

#include <memory>
#include <string>

namespace parley {

// Paho C 1.3.12 sets its library up when a process creates its first client and tears it down
// when the last one is destroyed (MQTTAsync_terminate). The teardown frees the in-memory trace
// buffer that every Paho function writes its entry and exit to (Log_terminate) without the lock
// that guards it, while the receive and send threads it just stopped are still returning. One of
// them can then write into the freed buffer, or allocate a new one that the next client's setup
// overwrites: a leak of 124,800 bytes (400 trace entries) that LeakSanitizer reported in CI. A
// process that destroys its last client and creates another (the tests, the load generator) runs
// into it now and then.
//
// holdPahoLibraryOpen() creates, the first time it is called, one client that is never connected
// nor destroyed: the library then stays set up, and its threads running, for the life of the
// process, and is never torn down under them. Call it before creating any Paho client.
void holdPahoLibraryOpen();

// A Paho client, created after holdPahoLibraryOpen(): how Parley's clients and tests make theirs.
std::unique_ptr<mqtt::async_client> newPahoClient(const std::string& uri,
                                                  const std::string& clientId,
                                                  const mqtt::create_options& options);

}  // namespace parley
