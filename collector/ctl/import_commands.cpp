#include "collector/ctl/import_commands.h"

#include <iostream>
#include <memory>

#include "collector/ctl/https_client.h"
#include "collector/ctl/output.h"
#include "collector/ctl/session.h"

namespace vigil::ctl {

namespace {

int import_activity(const CtlFlags& flags, const std::string& file, const std::string& source, bool as_json) {
  int code = kOk;
  auto body = read_input(file, code);
  if (!body) return code;
  auto s = open_session(flags, code);
  if (!s) return code;
  auto r = call(*s, "POST", "/api/v1/recorded-activity?source=" + url_encode(source), *body, code, "application/x-ndjson");
  if (!r) return code;
  if (as_json) {
    std::cout << boost::json::serialize(r->body) << std::endl;
  } else {
    std::cout << "Imported " << field_text(r->body, "events") << " events from " << file << " as device "
              << field_text(r->body, "device_id") << " (seqs " << field_text(r->body, "first_seq") << "-"
              << field_text(r->body, "last_seq") << ").\n";
  }
  return kOk;
}

}  // namespace

void add_import_commands(CLI::App& app, const CtlFlags& flags, int& result) {
  struct Args {
    std::string file, source;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  auto* c = app.add_subcommand("import-activity",
                               "import recorded activity (JSON lines of vigil.v1.Event) as device recorded-SOURCE");
  c->add_option("file", a->file, "JSON lines file ('-' reads stdin)")->required();
  c->add_option("--source", a->source, "where it was recorded: 1-48 of a-z, 0-9, '-' (the device becomes recorded-SOURCE)")
      ->required();
  c->add_flag("--json", a->json, "print the import report as one JSON object");
  c->callback([&flags, &result, a] { result = import_activity(flags, a->file, a->source, a->json); });
}

}  // namespace vigil::ctl
