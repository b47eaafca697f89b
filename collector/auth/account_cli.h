// `vigil-collector accounts add`: creates an account directly in DATA_DIR/auth.db, for the first
// admin (before anyone can log in) and for recovery. Works while the collector runs (SQLite WAL).
#pragma once
#include <string>
#include <vector>

#include "shared/result.h"

namespace vigil::collector::auth {

// The password comes from stdin (one line) when password_stdin, else from a prompt without echo
// on the terminal (asked twice). Prints what was created; returns an error that says why not.
Status add_account_from_cli(const std::string& data_dir, const std::string& name, const std::vector<std::string>& groups,
                            bool password_stdin);

}  // namespace vigil::collector::auth
