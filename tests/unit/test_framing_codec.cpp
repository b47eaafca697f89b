#include <catch2/catch.hpp>

#include "shared/batch_codec.h"
#include "shared/framing.h"
#include "shared/limits.h"

#include <zstd.h>
#include <memory>

using namespace vigil;

TEST_CASE("frames split across reads come out whole and in order", "[framing]") {
  std::string wire = encode_frame("hello") + encode_frame("") + encode_frame(std::string(70000, 'x'));
  FrameDecoder dec(1 << 20);
  std::vector<std::string> got;
  for (char c : wire) {
    dec.feed(std::string_view(&c, 1));
    for (;;) {
      auto f = dec.next();
      REQUIRE(f.ok());
      if (!f->has_value()) break;
      got.push_back(**f);
    }
  }
  REQUIRE(got.size() == 3);
  CHECK(got[0] == "hello");
  CHECK(got[1].empty());
  CHECK(got[2].size() == 70000);
}

TEST_CASE("a frame above the limit is refused before its payload arrives", "[framing]") {
  FrameDecoder dec(1024);
  dec.feed(encode_frame(std::string(1025, 'a')).substr(0, 4));
  auto f = dec.next();
  REQUIRE_FALSE(f.ok());
  CHECK(f.error().find("exceeds the limit") != std::string::npos);
}

static v1::EventBatch sample_batch(std::uint64_t first, int n) {
  v1::EventBatch b;
  b.set_schema_version(1);
  b.set_device_id("dev-1");
  b.set_first_seq(first);
  b.set_last_seq(first + n - 1);
  for (int i = 0; i < n; ++i) {
    auto* e = b.add_events();
    e->set_seq(first + i);
    e->set_type("file.create");
    e->set_time_ns(1000 + i);
    e->mutable_file()->set_path("/tmp/f" + std::to_string(i));
  }
  return b;
}

TEST_CASE("a batch round-trips through the codec", "[codec]") {
  auto payload = encode_batch(sample_batch(5, 100));
  auto back = decode_batch(payload, {1 << 20, 1000});
  REQUIRE(back.ok());
  CHECK(back->events_size() == 100);
  CHECK(back->events(99).file().path() == "/tmp/f99");
}

TEST_CASE("decode_batch refuses bombs, garbage, too many events and broken seqs", "[codec]") {
  SECTION("zstd bomb: 100 MB of zeros compressed to a few KB") {
    std::string zeros(100u << 20, '\0');
    auto bomb = zstd_compress(zeros, 1);
    REQUIRE(bomb.size() < 100000);
    auto r = decode_batch(bomb, {limits::kMaxDecompressedBytes, limits::kMaxBatchEvents});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().find("limit") != std::string::npos);
  }
  SECTION("bomb whose header hides its size is caught while streaming") {
    std::string zeros(64u << 20, '\0');
    // Streaming compression writes no content size in the frame header.
    std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> cctx(ZSTD_createCCtx(), &ZSTD_freeCCtx);
    ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_contentSizeFlag, 0);
    std::string out(ZSTD_compressBound(zeros.size()), '\0');
    size_t n = ZSTD_compress2(cctx.get(), out.data(), out.size(), zeros.data(), zeros.size());
    REQUIRE_FALSE(ZSTD_isError(n));
    out.resize(n);
    auto r = zstd_decompress(out, 1 << 20);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().find("beyond the limit") != std::string::npos);
  }
  SECTION("not zstd at all") {
    auto r = decode_batch("definitely not zstd", {1 << 20, 100});
    REQUIRE_FALSE(r.ok());
  }
  SECTION("valid zstd, invalid protobuf") {
    auto r = decode_batch(zstd_compress("\xff\xff\xff\xff garbage"), {1 << 20, 100});
    REQUIRE_FALSE(r.ok());
  }
  SECTION("too many events") {
    auto r = decode_batch(encode_batch(sample_batch(1, 101)), {1 << 20, 100});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().find("above the limit") != std::string::npos);
  }
  SECTION("declared range disagrees with the events") {
    auto b = sample_batch(1, 10);
    b.set_last_seq(11);
    REQUIRE_FALSE(decode_batch(encode_batch(b), {1 << 20, 100}).ok());
    auto c = sample_batch(1, 10);
    c.mutable_events(3)->set_seq(99);
    REQUIRE_FALSE(decode_batch(encode_batch(c), {1 << 20, 100}).ok());
  }
}
