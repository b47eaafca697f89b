// shared/content_type.h: types by magic bytes on files made by the real tools (zip, gzip, bzip2,
// xz, zstd, lz4, tar, 7z, gcab) where installed; rar, ole2, pdf, png, jpeg and gif are written by
// hand (no encoder here; each such file is named below), and every tool that is missing is a
// WARN. Extension claims and the mismatch rule. Tag: [content_type].
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "shared/content_type.h"
#include "tests/unit/test_support.h"

using vigil::ContentType;
using vigil::test::TempDir;
using namespace std::string_literals;

namespace {

bool have(const std::string& tool) { return std::system(("command -v " + tool + " >/dev/null 2>&1").c_str()) == 0; }
bool sh(const std::string& cmd) { return std::system(("(" + cmd + ") >/dev/null 2>&1").c_str()) == 0; }

ContentType type_of(const std::string& path) {
  auto t = vigil::sniff_file(path);
  INFO(path << ": " << (t ? "" : t.error()));
  REQUIRE(t.ok());
  return *t;
}

}  // namespace

TEST_CASE("archives and compressed streams made by the real tools are typed by content", "[content_type]") {
  TempDir d("vigil-ctype");
  const std::string dir = d.path.string();
  d.write("a.txt", "quarterly numbers\n" + std::string(5000, 'x'));
  d.write("b.csv", "name,card\nalice,4111111111111111\n");
  struct Tool { std::string tool, cmd, file; ContentType want; };
  const std::vector<Tool> tools{
      {"zip", "cd " + dir + " && zip -q plain.zip a.txt b.csv", "plain.zip", ContentType::Zip},
      {"gzip", "gzip -c " + dir + "/a.txt > " + dir + "/a.gz", "a.gz", ContentType::Gzip},
      {"bzip2", "bzip2 -c " + dir + "/a.txt > " + dir + "/a.bz2", "a.bz2", ContentType::Bzip2},
      {"xz", "xz -c " + dir + "/a.txt > " + dir + "/a.xz", "a.xz", ContentType::Xz},
      {"zstd", "zstd -q -c " + dir + "/a.txt > " + dir + "/a.zst", "a.zst", ContentType::Zstd},
      {"lz4", "lz4 -q -c " + dir + "/a.txt > " + dir + "/a.lz4", "a.lz4", ContentType::Lz4},
      {"tar", "cd " + dir + " && tar cf a.tar a.txt b.csv", "a.tar", ContentType::Tar},
      {"tar", "cd " + dir + " && tar --format=posix -cf p.tar a.txt", "p.tar", ContentType::Tar},
      {"tar", "cd " + dir + " && tar czf a.tar.gz a.txt", "a.tar.gz", ContentType::Gzip},
      {"7z", "cd " + dir + " && 7z a -bd a.7z a.txt", "a.7z", ContentType::SevenZip},
      {"gcab", "cd " + dir + " && gcab -c a.cab a.txt", "a.cab", ContentType::Cab},
  };
  for (const auto& t : tools) {
    if (!have(t.tool)) {
      WARN("SKIPPED part: " << t.tool << " is not installed; " << vigil::to_string(t.want) << " not tested on a real file");
      continue;
    }
    INFO(t.cmd);
    REQUIRE(sh(t.cmd));
    CHECK(type_of(dir + "/" + t.file) == t.want);
    CHECK(vigil::is_archive(t.want));
  }
}

TEST_CASE("office documents are zips but not archives", "[content_type]") {
  TempDir d("vigil-office");
  const std::string dir = d.path.string();
  if (!have("zip")) {
    WARN("SKIPPED: zip is not installed; ooxml/odf not tested");
    return;
  }
  // A .docx as Word lays it out: [Content_Types].xml first.
  std::filesystem::create_directories(d.path / "docx" / "word");
  d.write("docx/[Content_Types].xml", "<?xml version=\"1.0\"?><Types/>");
  d.write("docx/word/document.xml", "<w:document/>");
  REQUIRE(sh("cd " + dir + "/docx && zip -q -X ../report.docx '[Content_Types].xml' word/document.xml"));
  CHECK(type_of(dir + "/report.docx") == ContentType::Ooxml);
  // Listed last: found in the central directory at the end.
  REQUIRE(sh("cd " + dir + "/docx && zip -q -X ../late.xlsx word/document.xml '[Content_Types].xml'"));
  CHECK(type_of(dir + "/late.xlsx") == ContentType::Ooxml);
  // ODF: an uncompressed "mimetype" entry first.
  std::filesystem::create_directories(d.path / "odt");
  { std::ofstream(d.file("odt/mimetype"), std::ios::binary) << "application/vnd.oasis.opendocument.text"; }
  d.write("odt/content.xml", "<office:document-content/>");
  REQUIRE(sh("cd " + dir + "/odt && zip -q -X -0 ../notes.odt mimetype && zip -q -X ../notes.odt content.xml"));
  CHECK(type_of(dir + "/notes.odt") == ContentType::Odf);
  CHECK_FALSE(vigil::is_archive(ContentType::Ooxml));
  CHECK_FALSE(vigil::is_archive(ContentType::Odf));
}

TEST_CASE("documents, images, programs and text by their magic", "[content_type]") {
  TempDir d("vigil-magic");
  // Hand-written (no encoder installed): a complete minimal PDF, PNG/GIF/JPEG headers, RAR 4 and
  // 5 signatures, an OLE2 (legacy .doc) header.
  const std::string pdf =
      "%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
      "trailer<</Root 1 0 R>>\n%%EOF\n";
  CHECK(type_of(d.write("doc.pdf", pdf)) == ContentType::Pdf);
  CHECK(type_of(d.write("junk-before.pdf", std::string(300, ' ') + pdf)) == ContentType::Pdf);
  CHECK(type_of(d.write("i.png", "\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR"s)) == ContentType::Png);
  CHECK(type_of(d.write("i.gif", "GIF89a\x01\0\x01\0\0\0\0;"s)) == ContentType::Gif);
  CHECK(type_of(d.write("i.jpg", "\xff\xd8\xff\xe0\0\x10JFIF\0"s)) == ContentType::Jpeg);
  CHECK(type_of(d.write("a.rar", "Rar!\x1a\x07\0\xcf\x90\x73\0\0"s)) == ContentType::Rar);
  CHECK(type_of(d.write("a5.rar", "Rar!\x1a\x07\x01\0\x33\x92"s)) == ContentType::Rar);
  CHECK(type_of(d.write("old.doc", "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"s + std::string(504, '\0'))) == ContentType::Ole2);
  CHECK(type_of("/bin/sh") == ContentType::Elf);  // a real program (symlink followed)
  CHECK(type_of(d.write("t.txt", "plain ASCII\nlines\n")) == ContentType::Text);
  CHECK(type_of(d.write("u.txt", "Zürich, 東京, emoji \xF0\x9F\x98\x80\n")) == ContentType::Text);
  // A multi-byte character cut by the 8 KiB head is still text.
  CHECK(type_of(d.write("cut.txt", std::string(vigil::kSniffHeadBytes - 1, 'a') + "\xE6\x9D\xB1" + "tail")) == ContentType::Text);
  CHECK(type_of(d.write("bom16.txt", "\xff\xfeh\0i\0"s)) == ContentType::Text);
  CHECK(type_of(d.write("zeros.bin", std::string(4096, '\0'))) == ContentType::Binary);
  CHECK(type_of(d.write("latin1.txt", "caf\xe9 cr\xe8me\n")) == ContentType::Unknown);  // not UTF-8, not binary
  CHECK(type_of(d.write("empty.txt", "")) == ContentType::Unknown);
  // Not regular files, missing files: errors, never a blocking read.
  CHECK_FALSE(vigil::sniff_file(d.path.string()).ok());
  CHECK_FALSE(vigil::sniff_file(d.file("missing")).ok());
  REQUIRE(sh("mkfifo " + d.file("fifo")));
  CHECK_FALSE(vigil::sniff_file(d.file("fifo")).ok());
  // Any bytes are safe input.
  std::string noise;
  for (int i = 0; i < 70000; ++i) noise.push_back(static_cast<char>((i * 7919) & 0xff));
  (void)vigil::sniff_content(noise, noise);
  (void)vigil::sniff_content("PK\x03\x04"s, {});
  CHECK(vigil::sniff_content("ustar"s) == ContentType::Text);  // too short for the tar magic
}

TEST_CASE("what an extension claims and when content disagrees", "[content_type]") {
  using vigil::extension_type;
  CHECK(extension_type("/home/a/report.PDF") == ContentType::Pdf);
  CHECK(extension_type("/x/notes.txt") == ContentType::Text);
  CHECK(extension_type("/x/data.csv") == ContentType::Text);
  CHECK(extension_type("/x/b.tar.gz") == ContentType::Gzip);
  CHECK(extension_type("/x/b.tgz") == ContentType::Gzip);
  CHECK(extension_type("/x/deck.pptx") == ContentType::Ooxml);
  CHECK(extension_type("/x/photo.JPEG") == ContentType::Jpeg);
  CHECK(extension_type("/x/Makefile") == ContentType::Unknown);
  CHECK(extension_type("/x/.bashrc") == ContentType::Unknown);
  CHECK(extension_type("/x.d/file") == ContentType::Unknown);
  CHECK(extension_type("/x/trailing.") == ContentType::Unknown);
  CHECK(extension_type("/x/weird.\xff\n") == ContentType::Unknown);
  CHECK(extension_type("") == ContentType::Unknown);

  using vigil::is_mismatch;
  CHECK(is_mismatch(ContentType::Pdf, ContentType::Text));        // a PDF renamed .txt
  CHECK(is_mismatch(ContentType::Zip, ContentType::Jpeg));        // an archive named .jpg
  CHECK(is_mismatch(ContentType::Gzip, ContentType::Pdf));
  CHECK(is_mismatch(ContentType::Binary, ContentType::Text));     // binary under a text name
  CHECK(is_mismatch(ContentType::Text, ContentType::Pdf));
  CHECK(is_mismatch(ContentType::Zip, ContentType::Ooxml));       // a plain zip posing as .docx
  CHECK_FALSE(is_mismatch(ContentType::Ooxml, ContentType::Zip)); // a .docx named .zip is a zip
  CHECK_FALSE(is_mismatch(ContentType::Binary, ContentType::Pdf));
  CHECK_FALSE(is_mismatch(ContentType::Pdf, ContentType::Pdf));
  CHECK_FALSE(is_mismatch(ContentType::Unknown, ContentType::Text));
  CHECK_FALSE(is_mismatch(ContentType::Pdf, ContentType::Unknown));
}
