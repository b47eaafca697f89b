// The event schema's version (shared/proto/vigil.proto); carried in every batch and Hello.
#pragma once
#include <cstdint>
namespace vigil {
inline constexpr std::uint32_t kSchemaVersion = 2;
}
