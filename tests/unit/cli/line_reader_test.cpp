#include "cli/line_reader.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <sstream>
#include <string>
#include <thread>

#include <doctest/doctest.h>

#include "core/error.hpp"

using namespace azhub;
using namespace std::chrono_literals;

namespace {

struct Pipe {
  int r = -1, w = -1;
  Pipe() {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    r = fds[0];
    w = fds[1];
  }
  ~Pipe() {
    close_write();
    if (r >= 0) ::close(r);
  }
  void write(std::string_view text) const { REQUIRE(::write(w, text.data(), text.size()) == static_cast<ssize_t>(text.size())); }
  void close_write() {
    if (w >= 0) ::close(w);
    w = -1;
  }
};

struct Fixture {
  std::ostringstream out, err;
  std::istringstream in;
  std::atomic<bool> interrupted{false};
  cli::Io io{out, err, in, [](std::string_view) { return std::optional<std::string>(); }};
  Fixture() { io.interrupted = &interrupted; }
};

}  // namespace

TEST_CASE("cli::LineReader on a descriptor: lines as std::getline gives them") {
  Fixture f;
  Pipe pipe;
  f.io.in_fd = pipe.r;
  cli::LineReader lines(f.io);
  pipe.write("one\n\nthree\nlast without newline");
  pipe.close_write();
  CHECK(lines.next() == "one");
  CHECK(lines.next() == "");
  CHECK(lines.next() == "three");
  CHECK(lines.next() == "last without newline");
  CHECK_FALSE(lines.next());
  CHECK_FALSE(lines.next());
}

TEST_CASE("cli::LineReader on a descriptor: a line longer than one read") {
  Fixture f;
  Pipe pipe;
  f.io.in_fd = pipe.r;
  cli::LineReader lines(f.io);
  const std::string long_line(200'000, 'x');
  std::thread writer([&] {
    pipe.write(long_line + "\nshort\n");
    pipe.close_write();
  });
  CHECK(lines.next() == long_line);
  CHECK(lines.next() == "short");
  CHECK_FALSE(lines.next());
  writer.join();
}

TEST_CASE("cli::LineReader on a descriptor: Ctrl-C ends a wait on an open, idle pipe") {
  Fixture f;
  Pipe pipe;
  f.io.in_fd = pipe.r;
  cli::LineReader lines(f.io);
  pipe.write("first\npartial");
  CHECK(lines.next() == "first");
  // The flag is set from another thread, as when SIGINT is handled on one of Paho's: no EINTR
  // reaches this thread's poll().
  std::thread setter([&] { f.interrupted.store(true); });
  const auto started = std::chrono::steady_clock::now();
  CHECK_FALSE(lines.next());  // the incomplete line is dropped
  CHECK(std::chrono::steady_clock::now() - started < 3s);
  setter.join();
}

TEST_CASE("cli::LineReader without a descriptor reads io.in") {
  Fixture f;
  f.in.str("a\nb");
  cli::LineReader lines(f.io);
  CHECK(lines.next() == "a");
  CHECK(lines.next() == "b");
  CHECK_FALSE(lines.next());
}
