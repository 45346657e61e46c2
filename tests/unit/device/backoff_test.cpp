#include "device/backoff.hpp"

#include <doctest/doctest.h>

using azhub::device::Backoff;
using std::chrono::milliseconds;

TEST_CASE("device::Backoff") {
  SUBCASE("doubles from the initial step up to the cap") {
    Backoff b(milliseconds(250), milliseconds(2000));
    CHECK(b.next(1.0) == milliseconds(250));
    CHECK(b.next(1.0) == milliseconds(500));
    CHECK(b.next(1.0) == milliseconds(1000));
    CHECK(b.next(1.0) == milliseconds(2000));
    CHECK(b.next(1.0) == milliseconds(2000));
    CHECK(b.attempts() == 5);
  }
  SUBCASE("jitter picks a point in the upper half of the step") {
    Backoff b(milliseconds(1000), milliseconds(30000));
    CHECK(b.next(0.0) == milliseconds(500));
    CHECK(b.next(0.5) == milliseconds(1500));
    CHECK(b.next(1.0) == milliseconds(4000));
    CHECK(b.next(0.25) == milliseconds(5000));
  }
  SUBCASE("jitter outside [0, 1] is clamped") {
    Backoff b(milliseconds(1000), milliseconds(30000));
    CHECK(b.next(-3.0) == milliseconds(500));
    CHECK(b.next(7.0) == milliseconds(2000));
  }
  SUBCASE("reset starts again after a connection that held") {
    Backoff b(milliseconds(100), milliseconds(1000));
    (void)b.next(1.0);
    (void)b.next(1.0);
    CHECK(b.step() == milliseconds(400));
    b.reset();
    CHECK(b.step() == milliseconds(100));
    CHECK(b.next(1.0) == milliseconds(100));
  }
  SUBCASE("many attempts never overflow past the cap") {
    Backoff b(milliseconds(250), milliseconds(30000));
    for (int i = 0; i < 200; ++i) (void)b.next(0.5);
    CHECK(b.step() == milliseconds(30000));
  }
}
