// systemd runs `vigil-agent run` as a foreground process (Type=simple): no handshake to make, so
// the agent's run is the whole of hosting it. Stop requests arrive as signals (stop_signal_source).
#include "agent/capture.h"

namespace vigil::agent {

int run_hosted(const std::function<int()>& body) { return body(); }

}  // namespace vigil::agent
