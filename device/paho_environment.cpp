#include "device/paho_environment.hpp"

#include <cstdlib>
#include <mutex>

namespace azhub::device {
namespace {

// The environment is process-wide, so what was taken out of it is too.
struct Withheld {
  std::once_flag once;
  std::mutex mutex;
  std::vector<std::pair<std::string, std::string>> variables;
};

Withheld& withheld() {
  static Withheld* w = new Withheld();  // never destroyed: children may be started until exit
  return *w;
}

}  // namespace

void withhold_proxy_environment_from_paho() {
  Withheld& w = withheld();
  std::call_once(w.once, [&w] {
    std::lock_guard lock(w.mutex);
    for (const char* name : {"https_proxy", "http_proxy"}) {
      if (const char* value = std::getenv(name)) {
        w.variables.emplace_back(name, value);
        ::unsetenv(name);
      }
    }
  });
}

std::vector<std::pair<std::string, std::string>> withheld_proxy_environment() {
  Withheld& w = withheld();
  std::lock_guard lock(w.mutex);
  return w.variables;
}

}  // namespace azhub::device
