// read_file_labels on Linux: real extended attributes on a real file.
#include <sys/xattr.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "agent/capture.h"
#include "test_support.h"

using vigil::agent::read_file_labels;

namespace {

bool set_label_attr(const std::string& path, const char* name, const std::string& value) {
  return ::setxattr(path.c_str(), name, value.data(), value.size(), 0) == 0;
}

}  // namespace

TEST_CASE("sensitivity labels come from user.vigil.labels and user.xdg.tags", "[file_labels]") {
  vigil::test::TempDir dir("vigil-labels");
  const std::string path = dir.file("plan.odt");
  std::ofstream(path) << "plan";
  if (!set_label_attr(path, "user.vigil.labels", " Highly Confidential ,Finance,, Finance")) {
    WARN("SKIPPED: " << dir.path.string() << " does not take user xattrs: " << std::strerror(errno));
    return;
  }
  REQUIRE(set_label_attr(path, "user.xdg.tags", "project-x,Finance"));
  CHECK(read_file_labels(path) == std::vector<std::string>{"Highly Confidential", "Finance", "project-x"});

  SECTION("a file without labels, a missing file") {
    const std::string plain = dir.file("plain.txt");
    std::ofstream(plain) << "x";
    CHECK(read_file_labels(plain).empty());
    CHECK(read_file_labels(dir.file("gone.txt")).empty());
  }
  SECTION("bounded: at most 16 labels of at most 128 bytes") {
    std::string many;
    for (int i = 0; i < 40; ++i) many += "label" + std::to_string(i) + ",";
    many += std::string(300, 'L');
    REQUIRE(set_label_attr(path, "user.vigil.labels", many));
    REQUIRE(::removexattr(path.c_str(), "user.xdg.tags") == 0);
    auto labels = read_file_labels(path);
    CHECK(labels.size() == 16);
    CHECK(labels.front() == "label0");
    const std::string tail = std::string("label") + "15";
    CHECK(labels.back() == tail);
    REQUIRE(set_label_attr(path, "user.vigil.labels", std::string(300, 'L')));
    labels = read_file_labels(path);
    REQUIRE(labels.size() == 1);
    CHECK(labels[0].size() == 128);
  }
}
