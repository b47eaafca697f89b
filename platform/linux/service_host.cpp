// systemd runs `vigil-agent run` as a foreground process (Type=exec): no handshake to make, so
// the agent's run is the whole of hosting it. Stop requests arrive as signals (stop_signal_source).
//
// The agent runs as background work: SCHED_BATCH, set here before any of its threads exists so
// they all inherit it. Its CPU share stays what it was (same weight: a storm is drained as fast as
// before), but its wakeups no longer preempt the task it is watching; on 2 CPUs the agent woken
// for a batch of records used to land on the writer's CPU and slow it (docs/DECISIONS.md). The
// process-connector thread asks for SCHED_FIFO itself (proc_connector.h).
#include <sched.h>

#include <cerrno>
#include <cstring>

#include "agent/capture.h"
#include "shared/log.h"

namespace vigil::agent {

int run_hosted(const std::function<int()>& body) {
  sched_param none{};
  if (::sched_setscheduler(0, SCHED_BATCH, &none) != 0)
    log::warn("agent", "cannot run as batch work (SCHED_BATCH); its wakeups may preempt the work it watches",
              {{"error", std::strerror(errno)}});
  return body();
}

}  // namespace vigil::agent
