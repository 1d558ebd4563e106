#pragma once

// The version of parleyd and of the protocol it speaks.
#define PARLEY_VERSION "0.1.0"
#define PARLEY_PROTOCOL_VERSION 1
