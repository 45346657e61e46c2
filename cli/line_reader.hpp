#pragma once
// `send --lines`: one line of standard input at a time, ended by Ctrl-C as well as by the end of
// the input.
#include <cstddef>
#include <optional>
#include <string>

#include "cli/io.hpp"

namespace azhub::cli {

// Reads `io.in_fd` directly when there is one (main: 0), waiting for input with poll() in short
// slices and looking at the interrupt flag between them: a SIGINT may be handled on any thread
// (Paho's too), so this thread's read() is not reliably interrupted by it. Without a descriptor
// (unit tests) it reads `io.in` with std::getline. `in` and `in_fd` must not both be read.
class LineReader {
 public:
  explicit LineReader(const Io& io);

  // The next line without its '\n' (a last line without one too). nullopt at the end of the
  // input, and once Ctrl-C is seen (a line not yet complete is dropped). Throws Error(failure)
  // when reading fails.
  [[nodiscard]] std::optional<std::string> next();

 private:
  void fill();

  const Io& m_io;
  int m_fd;
  std::string m_buffer;
  std::size_t m_pos = 0;   // start of the next line in m_buffer
  std::size_t m_scan = 0;  // m_buffer[m_pos, m_scan) holds no '\n'
  bool m_eof = false;
};

}  // namespace azhub::cli
