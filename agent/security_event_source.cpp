#include "agent/security_event_source.h"

#include "agent/event_builder.h"

namespace vigil::agent {

namespace {
void set_process(v1::Event& e, const ProcessInfo& p) {
  e.set_login_uid(p.login_uid);
  e.set_user(escape_non_utf8(p.user));
  auto* out = e.mutable_process();
  out->set_pid(p.pid);
  out->set_ppid(p.ppid);
  out->set_exe(escape_non_utf8(p.exe));
  out->set_comm(escape_non_utf8(p.comm));
  out->set_uid(p.uid);
  out->set_parent_exe(escape_non_utf8(p.parent_exe));
}
}  // namespace

v1::Event make_security_event(const SecurityChange& c) {
  v1::Event e;
  e.set_time_ns(c.time_ns);
  e.set_type("security.changed");
  e.set_login_uid(0xffffffffu);
  if (c.has_process) set_process(e, c.process);
  auto* b = e.mutable_security();
  b->set_category(c.category);
  b->set_item(escape_non_utf8(c.item));
  b->set_change(c.change);
  b->set_old_digest(c.old_digest);
  b->set_new_digest(c.new_digest);
  b->set_old_value(escape_non_utf8(c.old_value));
  b->set_new_value(escape_non_utf8(c.new_value));
  b->set_diff(escape_non_utf8(c.diff));
  b->set_lines_added(c.lines_added);
  b->set_lines_removed(c.lines_removed);
  b->set_changed_by(c.changed_by);
  return e;
}

v1::Event make_tamper_event(const TamperActivity& t) {
  v1::Event e;
  e.set_time_ns(t.time_ns);
  e.set_type("agent.tamper");
  e.set_login_uid(0xffffffffu);
  if (t.sender_pid) {
    auto* p = e.mutable_process();
    p->set_pid(t.sender_pid);
    p->set_uid(t.sender_uid);
    p->set_exe(escape_non_utf8(t.sender_exe));
  }
  auto* b = e.mutable_tamper();
  b->set_what(t.what);
  b->set_item(escape_non_utf8(t.item));
  b->set_signal(static_cast<std::uint32_t>(t.signal));
  b->set_sender_pid(t.sender_pid);
  b->set_sender_uid(t.sender_uid);
  b->set_sender_exe(escape_non_utf8(t.sender_exe));
  b->set_old_digest(t.old_digest);
  b->set_new_digest(t.new_digest);
  b->set_detail(escape_non_utf8(t.detail));
  return e;
}

SecurityCaptureSpec security_spec_from(const RuntimeOptions& options) {
  SecurityCaptureSpec spec;
  spec.config_root = options.config.security_config_root;
  spec.netns_path = options.config.security_netns;
  spec.agent_paths = {options.paths.config(), options.paths.cert(), options.paths.ca()};
  return spec;
}

SecurityEventSource::SecurityEventSource(SecurityCaptureSpec spec, std::unique_ptr<SecurityActivitySource> source)
    : spec_(std::move(spec)), source_(std::move(source)) {}

Status SecurityEventSource::start() { return source_->start(spec_); }

int SecurityEventSource::pollable_fd() const { return source_->pollable_fd(); }

Result<DrainStats> SecurityEventSource::drain(std::vector<v1::Event>& out) {
  return source_->drain([&out](SecurityRecord&& r) {
    if (auto* c = std::get_if<SecurityChange>(&r)) out.push_back(make_security_event(*c));
    else out.push_back(make_tamper_event(std::get<TamperActivity>(r)));
  });
}

}  // namespace vigil::agent
