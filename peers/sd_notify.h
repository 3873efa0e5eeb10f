// systemd's readiness protocol (sd_notify(3)) without libsystemd: one
// datagram to the AF_UNIX socket named by $NOTIFY_SOCKET. node and gateway
// send READY=1 on their "ready" event, so that a Type=notify unit
// (configs/systemd/) is started only once the role serves, and STOPPING=1
// when asked to stop. Without $NOTIFY_SOCKET (not under systemd) it does nothing.
#pragma once

#include <string>

namespace deltaswarm::cli {

// Sends state ("READY=1", "STATUS=...", lines joined by '\n'); false if
// $NOTIFY_SOCKET is set but the datagram could not be sent.
bool NotifySystemd(const std::string& state);

}  // namespace deltaswarm::cli
