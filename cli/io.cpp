#include "cli/io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ostream>

#include <fmt/format.h>

#include "core/error.hpp"

namespace azhub::cli {

Env process_env() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

namespace {

core::Error cannot_read(const std::string& path, std::string_view what, std::string_view reason) {
  return core::usage_error(fmt::format("{}: cannot read '{}': {}", what, path, reason));
}

// An open descriptor of the regular (or special, not directory) file `path`; throws cannot_read.
int open_file_argument(const std::string& path, std::string_view what) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw cannot_read(path, what, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    throw cannot_read(path, what, "it is a directory");
  }
  return fd;
}

}  // namespace

void require_file_argument(const std::string& path, std::string_view what) {
  ::close(open_file_argument(path, what));
}

std::string read_file_argument(const std::string& path, std::string_view what) {
  const auto fail = [&](std::string_view reason) { return cannot_read(path, what, reason); };
  const int fd = open_file_argument(path, what);
  std::string content;
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
      content.append(buffer, static_cast<std::size_t>(n));
    } else if (n == 0) {
      break;
    } else if (errno != EINTR) {
      const int error = errno;
      ::close(fd);
      throw fail(std::strerror(error));
    }
  }
  ::close(fd);
  return content;
}

void Io::trace(int level, std::string_view message) const {
  if (verbosity >= level) err << "azhub: " << message << '\n' << std::flush;
}

}  // namespace azhub::cli
