#include "collector/auth/account_cli.h"

#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "collector/auth/account_store.h"
#include "collector/auth/secrets.h"
#include "shared/time_util.h"

namespace vigil::collector::auth {

namespace {

// One line from stdin; echo off when it is a terminal (restored on every path).
std::string read_secret_line(const char* prompt, bool tty) {
  termios old{};
  const bool echo_off = tty && tcgetattr(STDIN_FILENO, &old) == 0;
  if (tty) std::fprintf(stderr, "%s", prompt);
  if (echo_off) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string line;
  std::getline(std::cin, line);
  if (echo_off) {
    tcsetattr(STDIN_FILENO, TCSANOW, &old);
    std::fprintf(stderr, "\n");
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

}  // namespace

Status add_account_from_cli(const std::string& data_dir, const std::string& name, const std::vector<std::string>& groups,
                            bool password_stdin) {
  const bool tty = !password_stdin && isatty(STDIN_FILENO);
  if (!password_stdin && !tty) return err("no terminal to ask for the password: use --password-stdin");
  std::string password = read_secret_line("Password: ", tty);
  if (tty && read_secret_line("Again: ", tty) != password) return err("the two passwords differ");
  if (password.size() < 10) return err("the password must be at least 10 bytes long");
  auto store = AccountStore::open(data_dir + "/auth.db");
  if (!store) return err(store.error());
  auto hash = hash_password(password);
  if (!hash) return err(hash.error());
  auto w = (*store)->add_account(name, *hash, groups, now_ns());
  if (!w) return err(w.error());
  if (w->outcome != Outcome::Ok) return err(w->detail);
  std::string list;
  for (const auto& g : groups) list += (list.empty() ? "" : ", ") + g;
  std::printf("Created account '%s' in %s/auth.db (role groups: %s)\n", name.c_str(), data_dir.c_str(),
              list.empty() ? "none" : list.c_str());
  return {};
}

}  // namespace vigil::collector::auth
