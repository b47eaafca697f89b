// NameRedactor: real user names found in free text as whole words, longest first, in one pass,
// pseudonyms left alone. Tag: [privacy].
#include <catch2/catch.hpp>

#include "collector/auth/name_redactor.h"

using vigil::collector::auth::NameRedactor;

namespace {
std::string tag(const std::string& u) { return "<" + u + ">"; }
}  // namespace

TEST_CASE("name redactor: whole words, longest first, one pass", "[privacy]") {
  NameRedactor r({"alice", "alice.smith", "bob", "al", "user"});
  CHECK(r.replace("alice copied /home/alice/plan.docx to alice@corp.example", tag) ==
        "<alice> copied /home/<alice>/plan.docx to <alice>@corp.example");
  CHECK(r.replace("alice.smith and alice", tag) == "<alice.smith> and <alice>");
  CHECK(r.replace("malice, alicex, bobby, xbob", tag) == "malice, alicex, bobby, xbob");  // not whole words
  CHECK(r.replace("bob-plan-0.pdf", tag) == "<bob>-plan-0.pdf");
  CHECK(r.replace("an alert for al", tag) == "an alert for al");  // "al" is too short to look for
  // A pseudonym in the text stays whole although "user" is a known name; the replacement is not
  // searched again (bob -> <alice> would otherwise become <<alice>>).
  CHECK(r.replace("user-0123456789ab and user", tag) == "user-0123456789ab and <user>");
  CHECK(r.replace("bob", [](const std::string&) { return std::string("alice"); }) == "alice");
  // Names the caller gives for this response count too.
  CHECK(r.replace("carol told bob", tag, {"carol"}) == "<carol> told <bob>");
  CHECK(r.replace("", tag).empty());
  CHECK(NameRedactor().replace("alice", tag) == "alice");
  // UTF-8 letters continue a word: "bobé" is not bob.
  CHECK(r.replace("bob\xc3\xa9 bob", tag) == "bob\xc3\xa9 <bob>");
}
