#include "cli/io.hpp"

#include <chrono>
#include <cstdlib>
#include <ostream>

namespace azhub::cli {

Env process_env() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

void Io::trace(int level, std::string_view message) const {
  if (verbosity >= level) err << "azhub: " << message << '\n' << std::flush;
}

}  // namespace azhub::cli
