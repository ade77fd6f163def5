#include "proxy/buffered_read.h"

namespace pgvalve::proxy {

std::tuple<error_code, size_t> ReadAvailable(ByteStream& stream, RelayBuffer& buffer) {
  auto [error, read] = stream.TryReadSome(buffer.free_space());
  if (MustWait(error)) {
    buffer.Release();
    return {asio::error::would_block, 0};
  }
  return {error, read};
}

std::tuple<error_code, size_t> StartRead(ByteStream& stream, RelayBuffer& buffer) {
  if (buffer.last_read_filled()) return ReadAvailable(stream, buffer);
  buffer.Release();
  return {asio::error::would_block, 0};
}

}  // namespace pgvalve::proxy
