#include "collector/ctl/auth_commands.h"

#include <termios.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>
#include <toml++/toml.h>

#include "collector/ctl/https_client.h"
#include "collector/ctl/output.h"
#include "collector/ctl/session.h"
#include "shared/file_util.h"

namespace vigil::ctl {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

struct Args {
  bool json = false;
  std::string user, name, group, account, label, ttl, id, description, scope_attribute, file;
  std::vector<std::string> groups, roles, scope_values;
  bool password_stdin = false, all = false;
};

// A password from stdin (one line), or prompted on the terminal without echo.
std::optional<std::string> read_password(bool from_stdin, const char* prompt, int& code) {
  const bool tty = !from_stdin && isatty(STDIN_FILENO);
  if (!from_stdin && !tty) {
    complain("no terminal to ask for the password: use --password-stdin");
    code = kUsage;
    return std::nullopt;
  }
  termios old{};
  const bool quiet = tty && tcgetattr(STDIN_FILENO, &old) == 0;
  if (tty) std::cerr << prompt << std::flush;
  if (quiet) {
    termios t = old;
    t.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &t);
  }
  std::string line;
  std::getline(std::cin, line);
  if (quiet) {
    tcsetattr(STDIN_FILENO, TCSANOW, &old);
    std::cerr << '\n';
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

std::string config_path_of(const CtlFlags& flags) { return flags.config.empty() ? default_config_path() : flags.config; }

// Sets (or, token empty, removes) the token in the config file, keeping its other keys; server
// and ca are written too when given now and the file has none, so the next command just works.
Status store_token(const CtlFlags& flags, const CtlSettings* settings, const std::string& token) {
  const std::string path = config_path_of(flags);
  toml::table t;
  std::error_code ec;
  if (fs::exists(path, ec)) {
    try {
      t = toml::parse_file(path);
    } catch (const toml::parse_error& e) {
      return err(path + ": " + std::string(e.description()));
    }
  }
  t.erase("token");
  t.erase("token_file");
  if (!token.empty()) t.insert_or_assign("token", token);
  if (settings) {
    if (!t.contains("server")) t.insert_or_assign("server", settings->server);
    if (!t.contains("ca")) t.insert_or_assign("ca", fs::absolute(settings->ca_path).string());
  }
  if (auto parent = fs::path(path).parent_path(); !parent.empty())
    if (auto s = ensure_dir(parent.string(), 0700); !s) return s;
  std::ostringstream out;
  out << "# vigilctl settings; 'token' is written by 'vigilctl login' (keep this file 0600).\n" << t << '\n';
  return write_file_atomic(path, out.str(), 0600);
}

void print_json_or(const json::object& o, bool as_json, const std::function<void()>& text) {
  if (as_json) std::cout << json::serialize(o) << std::endl;
  else text();
}

std::string joined(const json::value* v) {
  if (!v || !v->is_array()) return "";
  std::string s;
  for (const auto& x : v->as_array()) s += (s.empty() ? "" : ",") + (x.is_string() ? std::string(x.as_string()) : json::serialize(x));
  return s;
}

// One call; prints it as JSON or via `text`.
int simple(const CtlFlags& flags, std::string_view method, const std::string& target, const std::string& body, bool as_json,
           const std::function<void(const json::object&)>& text) {
  int code = kOk;
  auto s = open_session(flags, code);
  if (!s) return code;
  auto r = call(*s, method, target, body, code);
  if (!r) return code;
  print_json_or(r->body, as_json, [&] { text(r->body); });
  return kOk;
}

// A listing: one JSON object per line, or a table.
int listing(const CtlFlags& flags, const std::string& target, std::string_view key, bool as_json,
            const std::vector<std::string>& headers, const std::function<std::vector<std::string>(const json::object&)>& row) {
  int code = kOk;
  auto s = open_session(flags, code);
  if (!s) return code;
  auto r = call(*s, "GET", target, "", code);
  if (!r) return code;
  auto* list = r->body.if_contains(key);
  if (!list || !list->is_array()) {
    complain("unexpected answer: no '" + std::string(key) + "' list");
    return kFailure;
  }
  if (as_json) {
    for (const auto& x : list->as_array()) std::cout << json::serialize(x) << '\n';
    std::cout.flush();
    return kOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& x : list->as_array())
    if (x.is_object()) rows.push_back(row(x.as_object()));
  print_table(std::cout, headers, rows);
  return kOk;
}

int cmd_login(const CtlFlags& flags, const Args& a) {
  int code = kOk;
  // The login route is public: the session needs no token yet, so a placeholder satisfies the
  // settings resolver (it is sent in the header and ignored by the server).
  CtlFlags f = flags;
  if (f.token.empty()) f.token = "login";
  // --config names the file login writes: a new one is fine (the resolver insists it exists).
  std::error_code ec;
  if (!flags.config.empty() && !fs::exists(flags.config, ec))
    if (auto st = write_file_atomic(flags.config, "", 0600); !st) {
      complain("cannot create " + flags.config + ": " + st.error());
      return kUsage;
    }
  auto s = open_session(f, code);
  if (!s) return code;
  std::string user = a.user;
  if (user.empty()) {
    if (!isatty(STDIN_FILENO) || a.password_stdin) {
      complain("give the account with --user");
      return kUsage;
    }
    std::cerr << "User: " << std::flush;
    std::getline(std::cin, user);
  }
  auto password = read_password(a.password_stdin, "Password: ", code);
  if (!password) return code;
  auto r = call(*s, "POST", "/api/v1/session", json::serialize(json::object{{"user", user}, {"password", *password}}), code,
                "application/json", {401, 429});
  if (!r) return code;
  if (r->status != 201) {
    complain(field_text(r->body, "error"));
    return kFailure;
  }
  const std::string token = field_text(r->body, "token");
  if (auto st = store_token(flags, &s->settings, token); !st) {
    complain("logged in, but the token could not be stored: " + st.error());
    return kFailure;
  }
  json::object o = r->body;
  o.erase("token");  // it is in the config file; never printed
  o["config"] = config_path_of(flags);
  print_json_or(o, a.json, [&] {
    std::cout << "Logged in as " << field_text(r->body, "account") << " until " << field_text(r->body, "expires")
              << "; token stored in " << config_path_of(flags) << ".\n";
    if (process_env("VIGIL_TOKEN")) std::cerr << "vigilctl: note: VIGIL_TOKEN is set and takes precedence over the stored token\n";
  });
  return kOk;
}

int cmd_logout(const CtlFlags& flags, const Args& a) {
  int code = kOk;
  auto s = open_session(flags, code);
  if (!s) return code;
  auto r = call(*s, "DELETE", "/api/v1/session", "", code, "application/json", {401});
  if (!r) return code;
  // Also when the token was already expired or revoked (401): it leaves the file either way.
  if (auto st = store_token(flags, nullptr, ""); !st) {
    complain(st.error());
    return kFailure;
  }
  print_json_or(r->body, a.json, [&] { std::cout << "Logged out; token removed from " << config_path_of(flags) << ".\n"; });
  return kOk;
}

}  // namespace

void add_auth_commands(CLI::App& app, const CtlFlags& flags, int& result) {
  auto a = std::make_shared<Args>();
  auto json_flag = [a](CLI::App* c) { c->add_flag("--json", a->json, "print JSON (one object per line for lists)"); };

  auto* login = app.add_subcommand("login", "log in with an account; stores the session token in the vigilctl config (0600)");
  login->add_option("--user", a->user, "account name (prompted when omitted)");
  login->add_flag("--password-stdin", a->password_stdin, "read the password from stdin instead of prompting");
  json_flag(login);
  login->callback([&flags, &result, a] { result = cmd_login(flags, *a); });

  auto* logout = app.add_subcommand("logout", "revoke the stored session token and remove it from the config");
  json_flag(logout);
  logout->callback([&flags, &result, a] { result = cmd_logout(flags, *a); });

  auto* whoami = app.add_subcommand("whoami", "the account, groups and permissions of the token in use");
  json_flag(whoami);
  whoami->callback([&flags, &result, a] {
    result = simple(flags, "GET", "/api/v1/whoami", "", a->json, [](const json::object& o) {
      std::cout << "name:         " << field_text(o, "name") << "\ngroups:       " << joined(o.if_contains("groups"))
                << "\npermissions:  " << joined(o.if_contains("permissions"))
                << "\nreal names:   " << (field_text(o, "reveal_names") == "true" ? "shown" : "pseudonymised")
                << "\nscoped:       " << field_text(o, "scoped") << '\n';
    });
  });

  auto* roles = app.add_subcommand("roles", "the roles, their permissions, and the built-in role groups");
  json_flag(roles);
  roles->callback([&flags, &result, a] {
    result = listing(flags, "/api/v1/roles", "roles", a->json, {"ROLE", "PERMISSIONS", "DESCRIPTION"}, [](const json::object& o) {
      return std::vector<std::string>{field_text(o, "name"), joined(o.if_contains("permissions")), field_text(o, "description")};
    });
  });

  // accounts
  auto* accounts = app.add_subcommand("accounts", "local accounts (needs manage_accounts)");
  accounts->require_subcommand(1);
  auto account_row = [](const json::object& o) {
    return std::vector<std::string>{field_text(o, "name"), field_text(o, "disabled") == "true" ? "disabled" : "enabled",
                                    joined(o.if_contains("groups")), field_text(o, "created")};
  };
  auto* al = accounts->add_subcommand("list", "every account");
  json_flag(al);
  al->callback([&flags, &result, a, account_row] {
    result = listing(flags, "/api/v1/accounts", "accounts", a->json, {"NAME", "STATE", "GROUPS", "CREATED"}, account_row);
  });
  auto* aa = accounts->add_subcommand("add", "create an account (password prompted or from stdin)");
  aa->add_option("name", a->name, "account name")->required();
  aa->add_option("--group", a->groups, "role group to join (repeatable)");
  aa->add_flag("--password-stdin", a->password_stdin, "read the password from stdin");
  json_flag(aa);
  aa->callback([&flags, &result, a] {
    int code = kOk;
    auto p = read_password(a->password_stdin, "Password for the new account: ", code);
    if (!p) {
      result = code;
      return;
    }
    json::array gs;
    for (const auto& g : a->groups) gs.emplace_back(g);
    result = simple(flags, "POST", "/api/v1/accounts",
                    json::serialize(json::object{{"name", a->name}, {"password", *p}, {"groups", gs}}), a->json,
                    [&](const json::object&) { std::cout << "Created account " << a->name << ".\n"; });
  });
  auto* as = accounts->add_subcommand("show", "one account with its permissions");
  as->add_option("name", a->name, "account name")->required();
  json_flag(as);
  as->callback([&flags, &result, a] {
    result = simple(flags, "GET", "/api/v1/accounts/" + url_encode(a->name), "", a->json, [](const json::object& o) {
      std::cout << "name:         " << field_text(o, "name") << "\nstate:        "
                << (field_text(o, "disabled") == "true" ? "disabled" : "enabled") << "\ngroups:       "
                << joined(o.if_contains("groups")) << "\npermissions:  " << joined(o.if_contains("permissions")) << '\n';
    });
  });
  for (const auto& [verb, disabled] : {std::pair{"disable", true}, std::pair{"enable", false}}) {
    auto* c = accounts->add_subcommand(verb, std::string(verb) + " an account (disabling revokes its tokens)");
    c->add_option("name", a->name, "account name")->required();
    json_flag(c);
    const bool d = disabled;
    c->callback([&flags, &result, a, d] {
      result = simple(flags, "PUT", "/api/v1/accounts/" + url_encode(a->name),
                      json::serialize(json::object{{"disabled", d}}), a->json,
                      [&](const json::object&) { std::cout << (d ? "Disabled " : "Enabled ") << a->name << ".\n"; });
    });
  }
  auto* ap = accounts->add_subcommand("passwd", "set an account's password");
  ap->add_option("name", a->name, "account name")->required();
  ap->add_flag("--password-stdin", a->password_stdin, "read the password from stdin");
  json_flag(ap);
  ap->callback([&flags, &result, a] {
    int code = kOk;
    auto p = read_password(a->password_stdin, "New password: ", code);
    if (!p) {
      result = code;
      return;
    }
    result = simple(flags, "PUT", "/api/v1/accounts/" + url_encode(a->name), json::serialize(json::object{{"password", *p}}),
                    a->json, [&](const json::object&) { std::cout << "Password of " << a->name << " changed.\n"; });
  });
  auto* ad = accounts->add_subcommand("delete", "delete an account and its tokens (never the last admin)");
  ad->add_option("name", a->name, "account name")->required();
  json_flag(ad);
  ad->callback([&flags, &result, a] {
    result = simple(flags, "DELETE", "/api/v1/accounts/" + url_encode(a->name), "", a->json,
                    [&](const json::object&) { std::cout << "Deleted account " << a->name << ".\n"; });
  });

  // role groups
  auto* rg = app.add_subcommand("role-groups", "role groups: built-in and custom, their roles, scope and members");
  rg->require_subcommand(1);
  auto* rl = rg->add_subcommand("list", "every role group");
  json_flag(rl);
  rl->callback([&flags, &result, a] {
    result = listing(flags, "/api/v1/role-groups", "role_groups", a->json, {"NAME", "ROLES", "SCOPE", "MEMBERS"},
                     [](const json::object& o) {
                       std::string scope = "everyone";
                       if (auto* s = o.if_contains("scope"); s && s->is_object())
                         scope = field_text(s->as_object(), "attribute") + "=" + joined(s->as_object().if_contains("values"));
                       return std::vector<std::string>{field_text(o, "name") + (field_text(o, "builtin") == "true" ? " (built-in)" : ""),
                                                       joined(o.if_contains("roles")), scope, joined(o.if_contains("members"))};
                     });
  });
  auto* rs = rg->add_subcommand("show", "one role group");
  rs->add_option("name", a->name, "group name")->required();
  json_flag(rs);
  rs->callback([&flags, &result, a] {
    result = simple(flags, "GET", "/api/v1/role-groups/" + url_encode(a->name), "", a->json, [](const json::object& o) {
      std::cout << "name:         " << field_text(o, "name") << "\nroles:        " << joined(o.if_contains("roles"))
                << "\npermissions:  " << joined(o.if_contains("permissions")) << "\nmembers:      "
                << joined(o.if_contains("members")) << '\n';
    });
  });
  auto group_body = [a](bool with_name) {
    json::object o;
    if (with_name) o["name"] = a->name;
    json::array rsj;
    for (const auto& r : a->roles) rsj.emplace_back(r);
    o["roles"] = std::move(rsj);
    if (!a->description.empty()) o["description"] = a->description;
    if (!a->scope_attribute.empty()) {
      json::array vs;
      for (const auto& v : a->scope_values) vs.emplace_back(v);
      o["scope"] = json::object{{"attribute", a->scope_attribute}, {"values", std::move(vs)}};
    }
    return json::serialize(o);
  };
  for (const std::string verb : {"create", "set"}) {
    auto* c = rg->add_subcommand(verb, verb == "create" ? "create a custom role group" : "replace a custom group's roles and scope");
    c->add_option("name", a->name, "group name")->required();
    c->add_option("--role", a->roles, "role (repeatable; see 'vigilctl roles')")->required();
    c->add_option("--description", a->description, "what the group is for");
    c->add_option("--scope-attribute", a->scope_attribute, "limit members to a population: department or region");
    c->add_option("--scope-value", a->scope_values, "attribute value of that population (repeatable)");
    json_flag(c);
    const bool create = verb == "create";
    c->callback([&flags, &result, a, group_body, create] {
      result = simple(flags, create ? "POST" : "PUT", create ? "/api/v1/role-groups" : "/api/v1/role-groups/" + url_encode(a->name),
                      group_body(create), a->json,
                      [&](const json::object&) { std::cout << (create ? "Created" : "Updated") << " role group " << a->name << ".\n"; });
    });
  }
  auto* rd = rg->add_subcommand("delete", "delete a custom role group");
  rd->add_option("name", a->name, "group name")->required();
  json_flag(rd);
  rd->callback([&flags, &result, a] {
    result = simple(flags, "DELETE", "/api/v1/role-groups/" + url_encode(a->name), "", a->json,
                    [&](const json::object&) { std::cout << "Deleted role group " << a->name << ".\n"; });
  });
  auto* rma = rg->add_subcommand("add-member", "add an account to a role group");
  rma->add_option("group", a->group, "group name")->required();
  rma->add_option("account", a->account, "account name")->required();
  json_flag(rma);
  rma->callback([&flags, &result, a] {
    result = simple(flags, "POST", "/api/v1/role-groups/" + url_encode(a->group) + "/members",
                    json::serialize(json::object{{"account", a->account}}), a->json,
                    [&](const json::object&) { std::cout << "Added " << a->account << " to " << a->group << ".\n"; });
  });
  auto* rmr = rg->add_subcommand("remove-member", "remove an account from a role group");
  rmr->add_option("group", a->group, "group name")->required();
  rmr->add_option("account", a->account, "account name")->required();
  json_flag(rmr);
  rmr->callback([&flags, &result, a] {
    result = simple(flags, "DELETE", "/api/v1/role-groups/" + url_encode(a->group) + "/members/" + url_encode(a->account), "",
                    a->json, [&](const json::object&) { std::cout << "Removed " << a->account << " from " << a->group << ".\n"; });
  });

  // tokens
  auto* tk = app.add_subcommand("tokens", "API tokens: your own, or (manage_accounts) anyone's");
  tk->require_subcommand(1);
  auto* tl = tk->add_subcommand("list", "tokens (yours unless --account or --all)");
  tl->add_option("--account", a->account, "another account's tokens");
  tl->add_flag("--all", a->all, "every account's tokens");
  json_flag(tl);
  tl->callback([&flags, &result, a] {
    std::string q = a->all ? "?all=true" : a->account.empty() ? "" : "?account=" + url_encode(a->account);
    result = listing(flags, "/api/v1/tokens" + q, "tokens", a->json, {"ID", "ACCOUNT", "KIND", "STATE", "EXPIRES", "LABEL"},
                     [](const json::object& o) {
                       return std::vector<std::string>{field_text(o, "id"), field_text(o, "account"), field_text(o, "kind"),
                                                       field_text(o, "state"), field_text(o, "expires"), field_text(o, "label")};
                     });
  });
  auto* tc = tk->add_subcommand("create", "create an API token (printed once)");
  tc->add_option("--label", a->label, "what it is for");
  tc->add_option("--ttl", a->ttl, "lifetime (default 30d, at most 365d)");
  tc->add_option("--account", a->account, "for another account (manage_accounts)");
  json_flag(tc);
  tc->callback([&flags, &result, a] {
    json::object b;
    if (!a->label.empty()) b["label"] = a->label;
    if (!a->ttl.empty()) b["ttl"] = a->ttl;
    if (!a->account.empty()) b["account"] = a->account;
    result = simple(flags, "POST", "/api/v1/tokens", json::serialize(b), a->json, [](const json::object& o) {
      std::cout << field_text(o, "token") << "\n(id " << field_text(o, "id") << ", expires " << field_text(o, "expires")
                << "; shown only now)\n";
    });
  });
  auto* tr = tk->add_subcommand("revoke", "revoke a token by its id");
  tr->add_option("id", a->id, "token id (tok_...)")->required();
  json_flag(tr);
  tr->callback([&flags, &result, a] {
    result = simple(flags, "DELETE", "/api/v1/tokens/" + url_encode(a->id), "", a->json,
                    [&](const json::object&) { std::cout << "Revoked " << a->id << ".\n"; });
  });
}

}  // namespace vigil::ctl
